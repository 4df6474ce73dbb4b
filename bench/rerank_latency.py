"""Serving latency added by re-rankers: ``app.serving.answer`` with and without each spec, same run.

Usage: python bench/rerank_latency.py [--data PATH|synthetic] [--model als] [--requests N] [--smoke]

Every request is one known user's ``answer(...)`` call (the function the Kafka agent and the
HTTP view both call), k=10. Reports p50/p99 per spec and their ratio to no re-ranking, which
is measured in the same run on the same users. Prints a table, then ONE JSON line.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.deployment import Deployed  # noqa: E402
from app.serving import GENRES, Request, answer  # noqa: E402
from models.data.movielens import load_catalog, load_interactions  # noqa: E402
from models.data.synthetic import generate  # noqa: E402
from models.serving import PolicyConfig  # noqa: E402
from models.training import train  # noqa: E402
from models.trending import TrendingCounts  # noqa: E402

DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "ml-100k"
SPECS = ("popularity_penalty:beta=0.5", "mmr:lambda=0.3", "tail_quota:q=3", "explore:slots=2",
         "explore:slots=2,depth=50", "popularity_penalty:beta=0.3|explore:slots=1,depth=100",
         "popularity_penalty:beta=0.3|explore:slots=2,depth=100")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--model", default="als")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--smoke", action="store_true", help="synthetic data, few requests (CI)")
    return parser.parse_args(argv)


def timings(deployed: Deployed, users: list[int], spec: str | None) -> np.ndarray:
    samples = []
    for index, user in enumerate(users):
        request = Request(f"r{index}", 0, user, 10, "bench", ())
        start = time.perf_counter()
        answer(request, None, deployed, "bench", start, reranker=spec)
        samples.append(time.perf_counter() - start)
    return np.asarray(samples[len(samples) // 10:]) * 1000.0  # the first tenth warms caches


def run(args: argparse.Namespace) -> dict:
    if args.smoke or args.data == "synthetic":
        frame, catalog = generate(**(dict(n_users=150, n_movies=300, n_interactions=6000) if args.smoke else {}))
    else:
        frame, catalog = load_interactions(args.data), load_catalog(args.data)
    result = train(args.model, frame, tune=False, progress=False, refit_all=True)
    bundle = result.bundle
    deployed = Deployed(bundle, {**result.model_card(), "version": "bench"}, PolicyConfig(), {},
                        TrendingCounts(None, bundle.maps.items.raw))
    GENRES.__init__(dict(zip(catalog["movie_id"].astype(int), catalog["genres"].astype(str))))
    requests = 200 if args.smoke else args.requests
    rng = np.random.default_rng(0)
    users = [int(u) for u in rng.choice(bundle.maps.users.raw, size=requests)]
    rows = {}
    for spec in (None, *SPECS, None):  # the baseline again at the end: drift shows as its two runs differing
        ms = timings(deployed, users, spec)
        key = spec or "none"
        rows.setdefault(key, []).append({"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))})
    base = {q: float(np.mean([r[q] for r in rows["none"]])) for q in ("p50_ms", "p99_ms")}
    report = {"data": "synthetic" if args.smoke else str(args.data), "model": args.model, "requests": requests,
              "baseline": {"runs": rows.pop("none"), **base}, "specs": {}}
    for spec, (row,) in rows.items():
        report["specs"][spec] = {**row, "added_p50_ms": row["p50_ms"] - base["p50_ms"],
                                 "added_p99_ms": row["p99_ms"] - base["p99_ms"],
                                 "p50_ratio": row["p50_ms"] / base["p50_ms"], "p99_ratio": row["p99_ms"] / base["p99_ms"]}
    return report


def main(argv=None) -> dict:
    report = run(parse_args(argv))
    base = report["baseline"]
    print(f"{report['model']} on {report['data']}, {report['requests']} answer() calls per spec")
    print(f"| spec | p50 ms | p99 ms | added p50 | added p99 | p50 x | p99 x |\n|---|---|---|---|---|---|---|\n"
          f"| none | {base['p50_ms']:.3f} | {base['p99_ms']:.3f} | | | 1 | 1 |")
    for spec, r in report["specs"].items():
        print(f"| `{spec}` | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['added_p50_ms']:+.3f} | {r['added_p99_ms']:+.3f} "
              f"| {r['p50_ratio']:.2f} | {r['p99_ratio']:.2f} |")
    print(json.dumps(report, separators=(",", ":")))
    return report


if __name__ == "__main__":
    main()
