"""Offline fairness goal on MovieLens: re-rankers' NDCG@10 against catalog coverage of top-10 lists.

Usage: python bench/fairness.py [--data PATH|synthetic] [--model als] [--no-tune] [--out DIR] [--smoke]

Leave-last-out as in ``models/evaluation.py``. The goal: a mitigated arm keeping at least 90%
of the best model's NDCG@10 while at least doubling its coverage. The arm is chosen on the
VALIDATION item (model fitted on train) and only then reported on the test item (model fitted
on train + validation), so the choice never sees the test period. Writes the trade-off curve
(``fairness_tradeoff.png``) and a Markdown table to ``--out``; prints the table, then ONE JSON
line with every figure (the last line of the output).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.data.movielens import load_catalog, load_interactions  # noqa: E402
from models.data.synthetic import generate  # noqa: E402
from models.evaluation import leave_last_split  # noqa: E402
from models.factory import create_model  # noqa: E402
from models.fairness.offline import list_quality, rerank_all, score_candidates  # noqa: E402
from models.rerank import GenreProvider, parse  # noqa: E402
from models.training import train  # noqa: E402

DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "ml-100k"
K = 10
GRID = (
    [f"popularity_penalty:beta={b},depth=10" for b in (0.1, 0.3, 0.5, 1.0, 1.5, 2.0)]
    + [f"mmr:lambda={lam},depth=10" for lam in (0.1, 0.3, 0.5, 0.7)]
    + [f"tail_quota:q={q},depth=10" for q in (1, 2, 3, 5, 7)]
    + [f"explore:slots={s},depth={d}" for d in (10, 50, 100) for s in (1, 2, 3)]
    + [f"popularity_penalty:beta={b}|explore:slots={s},depth=100" for b in (0.3, 0.5) for s in (1, 2)]
)
SMOKE_GRID = ("popularity_penalty:beta=0.5,depth=10", "mmr:lambda=0.3", "tail_quota:q=3,depth=10",
              "explore:slots=2,depth=10")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="MovieLens folder, or 'synthetic'")
    parser.add_argument("--model", default="als", help="the best model under full ranking (README: ALS)")
    parser.add_argument("--no-tune", action="store_true", help="the model's defaults, no validation tuning")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic data and grid (CI)")
    parser.add_argument("--grid", default="", help="';'-separated specs instead of the default grid")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def load(args: argparse.Namespace):
    if args.smoke or args.data == "synthetic":
        size = dict(n_users=150, n_movies=300, n_interactions=6000) if args.smoke else {}
        frame, catalog = generate(seed=args.seed, **size)
    else:
        frame, catalog = load_interactions(args.data), load_catalog(args.data)
    return frame, catalog


def family(spec: str) -> str:
    """The spec with its strengths blanked: one curve per re-ranker and candidate depth."""
    return re.sub(r"(beta|lambda|q|slots)=[0-9.]+", r"\1=*", spec)


def plot(rows: list[dict], baseline: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in sorted({family(r["spec"]) for r in rows}):
        points = sorted((r["test"]["coverage"], r["test"][f"ndcg@{K}"]) for r in rows if family(r["spec"]) == name)
        ax.plot(*zip(*points), marker="o", ms=3, label=name)
    ax.scatter([baseline["coverage"]], [baseline[f"ndcg@{K}"]], color="black", zorder=5, label="no mitigation")
    ax.axhline(0.9 * baseline[f"ndcg@{K}"], color="grey", ls="--", lw=0.8)
    ax.axvline(2 * baseline["coverage"], color="grey", ls=":", lw=0.8)
    ax.set_xlabel("catalog coverage of top-10 lists (test)")
    ax.set_ylabel("NDCG@10 (test, full ranking)")
    ax.set_title("Re-rankers: accuracy against coverage (dashed: 90% NDCG, dotted: 2x coverage)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    frame, catalog = load(args)
    split = leave_last_split(frame)
    result = train(args.model, frame, tune=not (args.no_tune or args.smoke), split=split, progress=False,
                   seed=args.seed)
    models = {"test": result.bundle.model,
              "validation": create_model(args.model, result.params).fit(split.matrix("train"))}
    raw = split.maps.items.raw
    movie_genres = GenreProvider.from_catalog(catalog)
    genres = GenreProvider(lambda index: movie_genres.of(int(raw[index])))  # dense index -> genres
    grid = args.grid.split(";") if args.grid else SMOKE_GRID if args.smoke else GRID
    depth = max(parse(spec).depth for spec in grid)
    scored = {t: score_candidates(m, split, t, depth, K) for t, m in models.items()}
    baseline = {t: list_quality(rerank_all(s, None, genres, K), s.targets, s.catalog, K) for t, s in scored.items()}
    rows = []
    for spec in grid:
        reranker = parse(spec)
        rows.append({"spec": spec, **{t: list_quality(rerank_all(s, reranker, genres, K, args.seed),
                                                      s.targets, s.catalog, K) for t, s in scored.items()}})
    for row in rows:
        for t in scored:
            row[t]["keeps_ndcg"] = row[t][f"ndcg@{K}"] >= 0.9 * baseline[t][f"ndcg@{K}"]
            row[t]["doubles_coverage"] = row[t]["coverage"] >= 2 * baseline[t]["coverage"]
    # Chosen on validation: the widest coverage among arms that keep 90% of NDCG there.
    keeping = [r for r in rows if r["validation"]["keeps_ndcg"]]
    chosen = max(keeping, key=lambda r: r["validation"]["coverage"]) if keeping else None
    args.out.mkdir(parents=True, exist_ok=True)
    plot(rows, baseline["test"], args.out / "fairness_tradeoff.png")
    report = {
        "data": "synthetic" if args.smoke or args.data == "synthetic" else str(args.data),
        "model": args.model, "params": result.params, "k": K, "users": int(scored["test"].targets.size),
        "baseline": baseline, "rows": rows, "chosen": chosen,
        "goal_met_on_test": bool(chosen and chosen["test"]["keeps_ndcg"] and chosen["test"]["doubles_coverage"]),
        "figure": str(args.out / "fairness_tradeoff.png"), "seconds": round(time.perf_counter() - started, 1),
    }
    (args.out / "fairness_tradeoff.md").write_text(table(report) + "\n")
    return report


def table(report: dict) -> str:
    base = report["baseline"]["test"]
    lines = [f"{report['model']} on {Path(report['data']).name}, {report['users']} users, test item (chosen arm picked on validation)",
             "", "| re-ranker | NDCG@10 (±95%) | HR@10 | coverage | Gini | tail share | head amplification |",
             "|---|---|---|---|---|---|---|",
             f"| none | {base['ndcg@10']:.4f} ± {base['ndcg@10_ci95']:.4f} | {base['hr@10']:.3f} | {base['coverage']:.3f} "
             f"| {base['gini']:.3f} | {base['tail_share']:.3f} | {base['amplification_head']:.2f} |"]
    for row in report["rows"]:
        t = row["test"]
        mark = " **chosen**" if report["chosen"] and row["spec"] == report["chosen"]["spec"] else ""
        lines.append(f"| `{row['spec']}`{mark} | {t['ndcg@10']:.4f} ± {t['ndcg@10_ci95']:.4f} | {t['hr@10']:.3f} "
                     f"| {t['coverage']:.3f} | {t['gini']:.3f} | {t['tail_share']:.3f} | {t['amplification_head']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    report = run(parse_args(argv))
    print(table(report))
    print(json.dumps(report, separators=(",", ":"), default=float))
    return report


if __name__ == "__main__":
    main()
