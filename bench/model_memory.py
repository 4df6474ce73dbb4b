"""What each loaded model version costs a worker in memory: resident size, and its arrays.

Usage: python -m bench.model_memory [--data PATH] [--models popularity,itemcf,als,ncf] [--smoke]

Each model is trained once (no tuning) and registered in a temporary registry. A fresh child
process per model then imports the serving code, loads the version with the worker's own
loader (``app.deployment.load_deployment``: hashes checked, policy, titles, trending) twice,
and reads its resident set size (``/proc/self/statm``) before and after each load. The second
load is what every further version of that model costs (a canary, an arm, a shadow); the
first also pays for libraries the model loads lazily. ``arrays`` is ``Deployed.memory_bytes``,
the figure /rollout/status shows for each loaded version.

Prints a table, then ONE JSON line with every figure (the last line of the output).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "ml-100k"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


def measure(registry_root: str, name: str) -> dict:
    """In this (fresh) process: RSS around two loads of ``name``'s newest version."""
    import gc

    from app.deployment import load_deployment
    from app.registry import Registry
    from app.storage import FileStore

    registry = Registry(FileStore(Path(registry_root)))
    gc.collect()
    before = rss()
    first = asyncio.run(load_deployment(registry, name))
    gc.collect()
    after_first = rss()
    second = asyncio.run(load_deployment(registry, name))
    gc.collect()
    after_second = rss()
    assert second.version == first.version
    return {"model": name, "arrays_bytes": first.memory_bytes, "first_load_rss_bytes": after_first - before,
            "next_load_rss_bytes": after_second - after_first}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--models", default="popularity,itemcf,als,ncf")
    parser.add_argument("--smoke", action="store_true", help="small synthetic data, popularity and ALS (CI)")
    parser.add_argument("--measure", nargs=2, metavar=("REGISTRY", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return {}
    from app.registry import Registry
    from app.storage import FileStore
    from models.training import train

    if args.smoke:
        from models.data.synthetic import generate

        frame, data_name, names = generate(n_users=200, n_movies=300, n_interactions=6_000, seed=1)[0], "synthetic", ["popularity", "als"]
    else:
        from models.data.movielens import load_interactions

        frame, data_name, names = load_interactions(args.data), str(args.data), args.models.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(FileStore(Path(tmp)))
        for name in names:
            result = train(name, frame, tune=False, progress=False, refit_all=True,
                           **({"epochs": 2} if name == "ncf" else {}))
            card = {**result.model_card(), "git_sha": "bench", "data_snapshot_id": "bench"}
            asyncio.run(registry.register(result.bundle, card))
            done = subprocess.run([sys.executable, "-m", "bench.model_memory", "--measure", tmp, name], cwd=ROOT,
                                  capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    mib = 2**20
    print(f"{data_name}: {len(frame)} interactions")
    print(f"{'model':<11} {'arrays MiB':>11} {'first load RSS MiB':>19} {'next load RSS MiB':>18}")
    for row in rows:
        print(f"{row['model']:<11} {row['arrays_bytes'] / mib:>11.2f} {row['first_load_rss_bytes'] / mib:>19.2f} "
              f"{row['next_load_rss_bytes'] / mib:>18.2f}")
    report = {"data": data_name, "interactions": len(frame), "models": rows}
    print(json.dumps(report, separators=(",", ":")))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
