"""Benchmark the served policy on the evaluation protocols, beside most-popular, item-KNN and ALS fold-in.

Usage: python bench/policy.py [--data PATH] [--protocol temporal,cold-start,leave-last-out]
                              [--models als,itemcf] [--no-tune] [--smoke]

Everything comes from :func:`models.serving.report.report`: models trained as the trainer
trains them on the data before the test cut (80th percentile of time), the policy tuned per
strategy on the window before it (70th to 80th percentile), then every case answered by the
served ``recommend``. Each row: HR / Recall / NDCG at 10 with 95% intervals over users and the
paired difference against most-popular. ``--smoke``: tiny synthetic data, no tuning (CI).

Prints a table, then ONE JSON line with every figure (the last line of the output).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.data.movielens import load_interactions  # noqa: E402
from models.data.synthetic import generate  # noqa: E402
from models.serving.report import PROTOCOL_NAMES, report  # noqa: E402

DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "ml-100k"
SMOKE = {"n_users": 120, "n_movies": 150, "n_interactions": 3000, "seed": 1}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MovieLens folder or ratings file")
    parser.add_argument("--protocol", default="temporal,cold-start", help=f"comma-separated, of {PROTOCOL_NAMES}")
    parser.add_argument("--models", default="als,itemcf", help="comma-separated; the first is the served one")
    parser.add_argument("--no-tune", action="store_true", help="model defaults instead of the trainer's tuning")
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic data, no tuning (CI)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def print_table(rows: list[dict]) -> None:
    header = ["protocol", "population", "n", "ranker", "users", "HR@10", "Recall@10", "NDCG@10 [95% CI]",
              "NDCG vs most-popular [95% CI]"]
    table = []
    for r in rows:
        vs = r.get("vs_most_popular") or {}
        ci, dci = r["ndcg@10_ci"], vs.get("ndcg@10_ci", [0, 0])
        table.append([r["protocol"], r.get("population", ""), str(r.get("n", "")), r["ranker"], str(r["users"]),
                      f"{r['hr@10']:.4f}", f"{r['recall@10']:.4f}", f"{r['ndcg@10']:.4f} [{ci[0]:.3f}, {ci[1]:.3f}]",
                      f"{vs['ndcg@10']:+.4f} [{dci[0]:+.3f}, {dci[1]:+.3f}]" if vs else "-"])
    widths = [max(len(c) for c in column) for column in zip(header, *table)]
    for line in [header, ["-" * w for w in widths], *table]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths)))


def main(argv=None) -> dict:
    args = parse_args(argv)
    frame = generate(**SMOKE)[0] if args.smoke else load_interactions(args.data)
    started = time.perf_counter()
    result = report(frame, args.protocol.split(","), args.models.split(","), tune=not (args.no_tune or args.smoke),
                    seed=args.seed)
    result = {"data": "synthetic" if args.smoke else str(args.data), "seconds": round(time.perf_counter() - started, 1),
              **result}
    print_table(result["rows"])
    for protocol, models in result["policies"].items():
        for name, card in models.items():
            print(f"policy ({protocol}) {name}: {card['config']}")
    print(json.dumps(result, separators=(",", ":"), default=str))
    return result


if __name__ == "__main__":
    main()
