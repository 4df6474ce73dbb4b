"""Table sizes, recovery state and build info: what a worker holds and which code it runs."""
from __future__ import annotations

import asyncio
from collections.abc import Iterable
from importlib import metadata
from typing import Any

from app.metrics import BUILD_INFO, TABLE_ROWS
from app.provenance import git_sha


def package_version() -> str:
    """The installed distribution's version; ``unknown`` when run from a bare checkout."""
    try:
        return metadata.version("movie-recs")
    except metadata.PackageNotFoundError:
        return "unknown"


async def publish_build_info() -> dict[str, str]:
    """Set ``movierecs_build_info`` once; git is asked in a thread, off the event loop."""
    sha = await asyncio.get_running_loop().run_in_executor(None, git_sha)
    info = {"version": package_version(), "git_sha": sha}
    BUILD_INFO.labels(**info).set(1)
    return info


def _is_in_memory(table: Any) -> bool:
    return type(table.data).__module__.startswith("faust.stores.memory")


async def count_rows(tables: Iterable[Any]) -> dict[str, int]:
    """Rows of each table held here; a disk store is counted in a thread (it walks its keys)."""
    loop = asyncio.get_running_loop()
    rows = {}
    for table in tables:
        if _is_in_memory(table):
            rows[table.name] = len(table.data)
        else:
            rows[table.name] = await loop.run_in_executor(None, len, table.data)
        TABLE_ROWS.labels(table.name).set(rows[table.name])
    return rows
