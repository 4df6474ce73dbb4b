"""Where a model came from: the code's git SHA and a content hash of the data it read."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def git_sha(repo: Path = REPO) -> str:
    """The commit of the code, with ``-dirty`` when the work tree differs; ``unknown`` outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                             text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def file_digest(path: Path) -> str:
    """SHA-256 of a file's content, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dataset_id(description: dict[str, Any]) -> str:
    """A content hash of what a training run read, for data that is not a snapshot manifest.

    ``description`` names the files with their digests (a MovieLens folder) or the
    generator and its parameters (synthetic data), so equal data gives an equal id.
    """
    text = json.dumps(description, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
