"""Poisoning, measured: a shilling attack on the trained model, with and without the spam quarantine.

Run from the repository root (no broker needed)::

    python -m bench.poisoning [--data ../shared/data/ml-100k] [--model als] [--smoke]

N fake accounts each rate a target movie 5 stars and ``filler`` of the most popular movies
(the classic "average/bandwagon" shilling profile) inside one clock hour. The target is a
little-known movie (fewer than ``--target-max`` interactions), drawn by seed. For every
attack shape the model is trained three ways on the same data set:

- clean: the real interactions only (where the target starts);
- attacked, no defence: real plus fake interactions;
- attacked, with quarantine: the honest stream (the simulator's rate events of the real
  data, squeezed into ``--span-hours`` as in ``bench.spam``) and the fake accounts' events
  replayed through the streaming detector (``bench.spam.detect``); every flagged account,
  fake or real, is left out of training, as ``movie-recs train`` does.

Shapes: ``burst`` (few accounts, many ratings each: what rate counting sees) and
``sybil`` (many accounts, few ratings each: under the floor in every window, so rate
counting cannot see it). The figures: the share of real users with the target in their
top-10 (seen movies excluded), and its median rank among them; over ``--seeds`` targets,
each with a 95% bootstrap interval of the mean over targets. The last line is one JSON object.
"""
from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import pandas as pd

from bench.spam import data_arguments, detect, load, rate_events, report, squeeze
from models.data.events import build_stream
from models.factory import create_model
from models.interactions import IdMaps, interaction_matrix

HOUR_MS = 3_600_000
SHAPES = {"burst": (20, 40), "sybil": (200, 4)}
"""Attack shape -> (fake accounts, popular filler movies each rates besides the target)."""


def attack(interactions: pd.DataFrame, target: int, accounts: int, filler: int, hour_ms: int,
           rng: np.random.Generator) -> pd.DataFrame:
    """The fake accounts' interactions: target and the ``filler`` most popular movies, in one hour."""
    popular = interactions["movie_id"].value_counts().index[: max(filler * 3, filler)].to_numpy()
    first = int(interactions["user_id"].max()) + 1
    rows = []
    for n in range(accounts):
        movies = [target, *rng.choice(popular, size=filler, replace=False).tolist()]
        times = np.sort(rng.integers(hour_ms, hour_ms + HOUR_MS, len(movies)))
        rows += [(first + n, movie, 5.0, int(ts)) for movie, ts in zip(movies, times)]
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "ts"])


def target_reach(frame: pd.DataFrame, real_users: np.ndarray, target: int, model_name: str,
                 seed: int) -> dict[str, float]:
    """Train on ``frame``; the target's top-10 share and median rank among the real users."""
    maps = IdMaps.from_frame(frame)
    matrix = interaction_matrix(frame, maps)
    params = {"seed": seed} if "seed" in create_model(model_name).Params.model_fields else {}
    model = create_model(model_name, params).fit(matrix)
    users = maps.users.index_of(real_users)
    users = users[users >= 0]
    item = maps.items.index(target)
    scores = model.score_users(users).astype(np.float64)
    seen = matrix[users].toarray() > 0
    unseen = ~seen[:, item]
    scores[seen] = -np.inf
    ranks = (scores > scores[:, [item]]).sum(axis=1)[unseen]
    return {"top10_share": float((ranks < 10).mean()), "median_rank": float(np.median(ranks))}


def mean_ci(values: list[float], seed: int = 0) -> dict[str, Any]:
    """Mean over targets with a 95% bootstrap interval."""
    data = np.asarray(values, dtype=np.float64)
    boot = np.random.default_rng(seed).choice(data, size=(2000, data.size)).mean(axis=1)
    return {"mean": round(float(data.mean()), 4),
            "ci95": [round(float(np.quantile(boot, 0.025)), 4), round(float(np.quantile(boot, 0.975)), 4)]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    real = load(args.data, args.users).astype({"user_id": "int64", "movie_id": "int64", "ts": "int64"})
    squeezed = squeeze(real, args.span_hours)
    honest_rates = rate_events(build_stream(squeezed, seed=0, max_minutes=3, request_share=0.0))
    counts = real["movie_id"].value_counts()
    candidates = np.sort(counts[(counts >= 3) & (counts < args.target_max)].index.to_numpy())
    real_users = np.unique(real["user_id"].to_numpy())
    results: dict[str, dict[str, list[float]]] = {}
    quarantined: dict[str, list[tuple[int, int]]] = {}
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        target = int(rng.choice(candidates))
        clean = target_reach(real, real_users, target, args.model, seed)
        results.setdefault("clean", {}).setdefault("top10_share", []).append(clean["top10_share"])
        results["clean"].setdefault("median_rank", []).append(clean["median_rank"])
        for shape, (accounts, filler) in SHAPES.items():
            hour = int(squeezed["ts"].min()) + HOUR_MS * int(rng.integers(1, max(int(args.span_hours) - 1, 2)))
            fakes = attack(real, target, round(accounts * args.account_scale), filler, hour, rng)
            rates = pd.concat([honest_rates, fakes[["ts", "user_id"]]]).sort_values("ts", kind="stable")
            flagged = detect(rates, 8, HOUR_MS, 300_000, args.floor)
            fake_ids = set(fakes["user_id"].tolist())
            quarantined.setdefault(shape, []).append((len(flagged & fake_ids), len(flagged - fake_ids)))
            attacked = pd.concat([real, fakes], ignore_index=True)
            defended = attacked[~attacked["user_id"].isin(list(flagged))]
            for defence, frame in (("none", attacked), ("quarantine", defended)):
                reach = target_reach(frame, real_users, target, args.model, seed)
                for key, value in reach.items():
                    results.setdefault(f"{shape}/{defence}", {}).setdefault(key, []).append(value)
    return {
        "bench": "poisoning", "data": args.data, "model": args.model, "seeds": args.seeds, "floor": args.floor,
        "shapes": {shape: {"accounts": round(a * args.account_scale), "ratings_each": f + 1,
                           "fakes_quarantined": sum(q[0] for q in quarantined[shape]),
                           "honest_quarantined": sum(q[1] for q in quarantined[shape])}
                   for shape, (a, f) in SHAPES.items()},
        "reach": {case: {key: mean_ci(values) for key, values in figures.items()}
                  for case, figures in results.items()},
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"{result['model']} on {result['data']}, {result['seeds']} targets")
    for shape, info in result["shapes"].items():
        print(f"  {shape}: {info['accounts']} accounts x {info['ratings_each']} ratings; quarantined "
              f"{info['fakes_quarantined']} fake, {info['honest_quarantined']} honest (over all targets)")
    print(f"{'case':<22}{'top-10 share of users':<28}{'median rank'}")
    for case, figures in result["reach"].items():
        share, rank = figures["top10_share"], figures["median_rank"]
        print(f"{case:<22}{share['mean']:.4f} {share['ci95']!s:<20}{rank['mean']:.1f} {rank['ci95']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_arguments(parser)
    parser.add_argument("--model", default="als", choices=["popularity", "itemcf", "als"])
    parser.add_argument("--seeds", type=int, default=5, help="Targets drawn, one per seed.")
    parser.add_argument("--target-max", type=int, default=20, help="Targets have fewer interactions than this.")
    parser.add_argument("--account-scale", type=float, default=1.0, help="Multiply every shape's accounts.")
    parser.add_argument("--smoke", action="store_true",
                        help="A tiny run: synthetic data, 150 users, 2 targets, a quarter of the accounts.")
    args = parser.parse_args(argv)
    if args.smoke:
        args.data, args.users, args.seeds, args.account_scale = "synthetic", 150, 2, 0.25
    return args


def main(argv: list[str] | None = None) -> None:
    report(run(parse_args(argv)), print_table)


if __name__ == "__main__":
    main()
