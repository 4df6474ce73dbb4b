"""Benchmark the four recommenders on MovieLens: training time, top-10 latency and quality.

Usage: python bench/models.py [--data PATH] [--users N] [--epochs E] [--no-tune] [--models a,b] [--smoke]

Quality is the leave-last-out protocol (``models.evaluation.leave_last``): every figure with its
95% interval over users, and ``paired`` (full ranking) the per-user difference against
most-popular measured in the same run. ``--smoke``: tiny synthetic data, no tuning (CI).
Prints a table, then ONE JSON line with every figure (the last line of the output).
Latency is the wall time of one ``ModelBundle.recommend(user_id, k=10)`` call (raw ids in and
out, seen items filtered) for every known user; fold-in latency is one
``recommend_from_history`` call over a user's whole known history, for a sample of users.
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

from models.data.movielens import load_interactions  # noqa: E402
from models.data.synthetic import generate  # noqa: E402
from models.evaluation import PROTOCOLS, compare, held_out_ranks, leave_last_split  # noqa: E402
from models.factory import MODEL_NAMES  # noqa: E402
from models.training import train  # noqa: E402

DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "ml-100k"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MovieLens folder or ratings file")
    parser.add_argument("--users", type=int, default=None, help="keep a random sample of N users (seed 0)")
    parser.add_argument("--epochs", type=int, default=None, help="fix NCF's epochs (otherwise tuned)")
    parser.add_argument("--no-tune", action="store_true", help="fit the defaults once, no validation tuning")
    parser.add_argument("--models", default=",".join(MODEL_NAMES), help="comma-separated model names")
    parser.add_argument("--fold-in-users", type=int, default=200, help="users timed for fold-in latency")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic data, no tuning, 1 NCF epoch (CI)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.no_tune, args.epochs, args.fold_in_users = True, 1, 20
    return args


SMOKE = {"n_users": 80, "n_movies": 100, "n_interactions": 2000, "seed": 1}


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.asarray(samples_s) * 1000.0
    return {"p50_ms": round(float(np.percentile(ms, 50)), 4), "p99_ms": round(float(np.percentile(ms, 99)), 4)}


def time_calls(call, arguments) -> list[float]:
    for argument in arguments[:20]:  # warm-up: caches, lazy imports, first-call allocations
        call(argument)
    timings = []
    for argument in arguments:
        start = time.perf_counter()
        call(argument)
        timings.append(time.perf_counter() - start)
    return timings


def main(argv=None) -> dict:
    args = parse_args(argv)
    frame = generate(**SMOKE)[0] if args.smoke else load_interactions(args.data)
    if args.users:
        users = np.random.default_rng(args.seed).permutation(frame["user_id"].unique())[: args.users]
        frame = frame[frame["user_id"].isin(users)].reset_index(drop=True)
    split = leave_last_split(frame)
    histories = split.frame("train+validation").groupby("user_id")["movie_id"].apply(list)
    rng = np.random.default_rng(args.seed)
    fold_in_users = rng.choice(histories.index.to_numpy(), size=min(args.fold_in_users, len(histories)), replace=False)
    ranks = {}
    report = {"data": "synthetic" if args.smoke else str(args.data), "dataset": split.stats(),
              "tuned": not args.no_tune, "models": {}}
    for name in args.models.split(","):
        result = train(name, frame, tune=not args.no_tune, epochs=args.epochs, seed=args.seed,
                       split=split, progress=False)
        bundle = result.bundle
        ranks[name] = held_out_ranks(bundle.model, split)
        user_ids = [int(u) for u in bundle.maps.users.raw]
        latency = percentiles(time_calls(lambda u: bundle.recommend(u, k=10), user_ids))
        fold_in = percentiles(time_calls(lambda u: bundle.recommend_from_history(histories[u], k=10),
                                         [int(u) for u in fold_in_users]))
        report["models"][name] = {
            "training_seconds": round(result.training_seconds, 3),
            "fit_seconds": round(result.fit_seconds, 3),
            "latency": latency,
            "fold_in_latency": fold_in,
            "params": result.params,
            "metrics": result.metrics,
            "validation": result.validation,
        }
        print(f"{name}: trained in {result.training_seconds:.1f}s", file=sys.stderr, flush=True)
    if "popularity" in ranks:
        for name, paired in compare(ranks, "popularity").items():
            report["models"][name]["paired"] = paired
    report["total_training_seconds"] = round(sum(m["training_seconds"] for m in report["models"].values()), 3)
    print_table(report)
    print(json.dumps(report, separators=(",", ":")))
    return report


def print_table(report: dict) -> None:
    stats = report["dataset"]
    print(f"data: {report['data']}  users={stats['users']} items={stats['items']} "
          f"interactions={stats['interactions']} density={stats['density']:.4f}  tuned={report['tuned']}")
    header = ["model", "train s", "fit s"]
    for protocol in PROTOCOLS:
        header += [f"HR {protocol}", f"NDCG {protocol}"]
    header += ["HR full 95% CI", "NDCG vs pop [95% CI]", "cov@10", "gini@10", "tail@10", "p50 ms", "p99 ms",
               "fold-in p50", "fold-in p99"]
    rows = []
    for name, m in report["models"].items():
        by_protocol = {r["protocol"]: r for r in m["metrics"]}
        row = [name, f"{m['training_seconds']:.1f}", f"{m['fit_seconds']:.1f}"]
        for protocol in PROTOCOLS:
            row += [f"{by_protocol[protocol]['hr@10']:.4f}", f"{by_protocol[protocol]['ndcg@10']:.4f}"]
        full = by_protocol["full"]
        ci, vs = full["hr@10_ci"], m.get("paired", {}).get("vs_baseline")
        row += [f"[{ci[0]:.3f}, {ci[1]:.3f}]",
                f"{vs['ndcg@10']:+.4f} [{vs['ndcg@10_ci'][0]:+.3f}, {vs['ndcg@10_ci'][1]:+.3f}]" if vs else "-"]
        row += [f"{full['coverage@10']:.3f}", f"{full['gini@10']:.3f}", f"{full['tail_share@10']:.3f}",
                f"{m['latency']['p50_ms']:.3f}", f"{m['latency']['p99_ms']:.3f}",
                f"{m['fold_in_latency']['p50_ms']:.2f}", f"{m['fold_in_latency']['p99_ms']:.2f}"]
        rows.append(row)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    for line in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).rjust(w) for c, w in zip(line, widths)))
    print(f"total training seconds (incl. tuning): {report['total_training_seconds']:.1f}")


if __name__ == "__main__":
    main()
