"""Benchmark the serving policy on MovieLens: each strategy's quality on the test items, and its latency.

Usage: python bench/policy.py [--data PATH] [--users N] [--models als,itemcf] [--no-tune] [--seed S]

Every figure comes from :func:`models.serving.recommend` called as a worker would call it, one
request per test item at that item's moment, with trending counts replayed from every
interaction strictly before it. HR@10 / NDCG@10 are the place of the test item in the served
list (full protocol: everything outside the user's history competes). Rows:

- ``model``: known users, live history = train + validation. ``fresh`` is the trainer's bundle
  (fitted on train + validation); ``stale`` was fitted on train only, so the live history holds
  one movie it never saw (the validation item) and the policy folds it in.
- ``fold-in``: users no model met (users in 7 folds, each fold's model fitted on the other
  users' train + validation) with ``n`` = 1, 3, 5, 10 movies shown; the tuned blend, pure
  fold-in (w = 1) and pure trending (w = 0). ``last n -> test item``: every user's last n
  interactions before the test item (the DESIGN.md test item). ``first n -> next``: a user's
  first n interactions and the one after (a newcomer, what the weights are tuned for), for
  users outside the tuning's own new users.
- ``popular-fallback``: every evaluated user with no history (their movies excluded): trending
  with the tuned half-life, all-time counts up to the moment, the model's training popularity.

Prints a table, then ONE JSON line with every figure (the last line of the output).
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.models import percentiles  # noqa: E402
from models.bundle import ModelBundle  # noqa: E402
from models.data.movielens import load_interactions  # noqa: E402
from models.evaluation import Split, leave_last_split  # noqa: E402
from models.factory import create_model  # noqa: E402
from models.metrics import hit_rate, ndcg  # noqa: E402
from models.serving import PolicyConfig, recommend, tune_policy  # noqa: E402
from models.serving.tuning import (  # noqa: E402
    NEW_USER_SHARE, Query, fit_without, held_out_queries, new_user_queries, new_users, replay,
)
from models.training import train  # noqa: E402
from models.trending import TrendingCounts  # noqa: E402

DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "ml-100k"
K = 10
HISTORY_LENGTHS = (1, 3, 5, 10)
UNKNOWN_USER = -1
Request = Callable[[Query], tuple[int, list[int], list[int]]]
"""A query -> (user id, live history, exclude), all raw ids."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MovieLens folder or ratings file")
    parser.add_argument("--users", type=int, default=None, help="keep a random sample of N users (seed)")
    parser.add_argument("--models", default="als,itemcf", help="comma-separated model names")
    parser.add_argument("--no-tune", action="store_true", help="model defaults instead of the trainer's tuning")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


@dataclass
class Served:
    """What serving a set of queries gave: the target's place in each list, call times, strategies."""

    ranks: list[int] = field(default_factory=list)
    timings: list[float] = field(default_factory=list)
    strategies: set[str] = field(default_factory=set)

    def summary(self) -> dict:
        return {"users": len(self.ranks), f"hr@{K}": round(hit_rate(self.ranks, K), 4),
                f"ndcg@{K}": round(ndcg(self.ranks, K), 4), "strategy": "/".join(sorted(self.strategies)),
                "latency": percentiles(self.timings)}


def serve(
    bundle: ModelBundle,
    split: Split,
    queries: Sequence[Query],
    request: Request,
    trending: Optional[TrendingCounts],
    config: PolicyConfig = PolicyConfig(),
    into: Optional[Served] = None,
) -> Served:
    """Answer every query at its moment, as a worker would; adds to ``into`` when given."""
    served = into if into is not None else Served()
    raw = split.maps.items.raw
    if trending is None:
        ordered = sorted(queries, key=lambda q: q.ts)
    else:
        ordered = replay(split.frame("all"), queries, trending)
    for query in ordered:
        user_id, history, exclude = request(query)
        started = time.perf_counter()
        answer = recommend(bundle, user_id, K, history=history, exclude=exclude, trending=trending,
                           now=query.ts, config=config)
        served.timings.append(time.perf_counter() - started)
        target = int(raw[query.target])
        served.ranks.append(answer.movie_ids.index(target) if target in answer.movie_ids else K)
        served.strategies.add(answer.strategy)
    return served


def known_user(split: Split) -> Request:
    """The user as the model knows them, with their whole train + validation history live."""
    return lambda q: (int(split.maps.users.raw[q.user]), split.maps.items.raw[q.history].tolist(), [])


def new_user(split: Split, n: int) -> Request:
    """A user the model never met, showing (at most) the last ``n`` interactions of the history."""
    return lambda q: (int(split.maps.users.raw[q.user]), split.maps.items.raw[q.history[-n:]].tolist(), [])


def anonymous(split: Split) -> Request:
    """No user, no history: only their movies are excluded."""
    return lambda q: (UNKNOWN_USER, [], split.maps.items.raw[q.history].tolist())


def user_folds(split: Split, seed: int) -> list[np.ndarray]:
    """Every user in one of ``1 / NEW_USER_SHARE`` random folds (raw ids), each a set of new users."""
    users = np.random.default_rng(seed).permutation(split.maps.users.raw)
    return np.array_split(users, round(1 / NEW_USER_SHARE))


def bench_new_users(name: str, params: dict, split: Split, config: PolicyConfig, seed: int) -> dict:
    """Tuned blend, pure fold-in and pure trending for users no model met, fold by fold.

    ``last n -> test item``: every user, the last n interactions before the test item shown.
    ``first n -> next``: a user's first n interactions, then the next one (how a newcomer starts),
    for users outside the policy tuning's new users, whose such queries chose the weights.
    """
    buckets = len(config.history_buckets)
    variants = {"blend": config,
                "fold-in": config.model_copy(update={"fold_in_weights": (1.0,) * buckets}),
                "trending": config.model_copy(update={"fold_in_weights": (0.0,) * buckets})}
    protocols = ("last n -> test item", "first n -> next")
    results = {p: {n: {label: Served() for label in variants} for n in HISTORY_LENGTHS} for p in protocols}
    tuned_on = new_users(split, seed)
    test = held_out_queries(split, "test")
    catalog = split.maps.items.raw
    for fold in user_folds(split, seed):
        bundle = fit_without(name, params, split, "train+validation", fold)
        members = set(split.maps.users.index_of(fold).tolist())
        onboarding = new_user_queries(split, np.setdiff1d(fold, tuned_on), max(HISTORY_LENGTHS))
        for n in HISTORY_LENGTHS:
            queries = {protocols[0]: [q for q in test if q.user in members and q.history.size >= n],
                       protocols[1]: [q for q in onboarding if q.history.size == n]}
            for protocol, label in itertools.product(protocols, variants):
                serve(bundle, split, queries[protocol], new_user(split, n),
                      TrendingCounts(config.trending_half_life_days, catalog), variants[label],
                      into=results[protocol][n][label])
    return {p: {n: {label: r.summary() for label, r in by_n.items()} for n, by_n in by_protocol.items()}
            for p, by_protocol in results.items()}


def bench_model(name: str, frame: pd.DataFrame, split: Split, args: argparse.Namespace) -> dict:
    """Train as the trainer does, tune the policy, then serve known and new users."""
    result = train(name, frame, tune=not args.no_tune, seed=args.seed, split=split, progress=False)
    started = time.perf_counter()
    tuning = tune_policy(frame, name, args.seed, params=result.params, split=split)
    tuning_seconds = time.perf_counter() - started
    config = tuning.config
    catalog = split.maps.items.raw
    test = held_out_queries(split, "test")
    stale = ModelBundle(create_model(name, result.params).fit(split.matrix("train")), split.maps)
    return {
        "params": result.params,
        "policy": tuning.card(),
        "tuning_seconds": round(tuning_seconds, 3),
        "offline_test": next(r for r in result.metrics if r["protocol"] == "full"),
        "model": {
            label: serve(bundle, split, test, known_user(split),
                         TrendingCounts(config.trending_half_life_days, catalog), config).summary()
            for label, bundle in (("fresh", result.bundle), ("stale+live", stale))
        },
        "fold-in": bench_new_users(name, result.params, split, config, args.seed),
    }


def bench_fallback(bundle: ModelBundle, split: Split, half_life: Optional[float]) -> dict:
    """Popular-fallback for every evaluated user: tuned trending, all-time counts, training popularity."""
    test = held_out_queries(split, "test")
    catalog = split.maps.items.raw
    trendings = {f"trending, half-life {half_life} d": TrendingCounts(half_life, catalog),
                 "all-time counts": TrendingCounts(None, catalog), "training popularity": None}
    return {label: serve(bundle, split, test, anonymous(split), trending).summary()
            for label, trending in trendings.items()}


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(1)
    frame = load_interactions(args.data)
    if args.users:
        users = np.random.default_rng(args.seed).permutation(frame["user_id"].unique())[: args.users]
        frame = frame[frame["user_id"].isin(users)].reset_index(drop=True)
    split = leave_last_split(frame)
    report: dict = {"data": str(args.data), "dataset": split.stats(), "tuned": not args.no_tune, "models": {}}
    for name in args.models.split(","):
        report["models"][name] = bench_model(name, frame, split, args)
        print(f"{name}: done", file=sys.stderr, flush=True)
    half_life = next(iter(report["models"].values()))["policy"]["config"]["trending_half_life_days"]
    popularity = ModelBundle(create_model("popularity").fit(split.matrix("train+validation")), split.maps)
    report["popular-fallback"] = bench_fallback(popularity, split, half_life)
    print_table(report)
    print(json.dumps(report, separators=(",", ":"), default=str))
    return report


def print_table(report: dict) -> None:
    stats = report["dataset"]
    print(f"data: {report['data']}  users={stats['users']} items={stats['items']} "
          f"interactions={stats['interactions']}  tuned={report['tuned']}")
    rows = []
    for name, m in report["models"].items():
        config = m["policy"]["config"]
        print(f"{name}: half-life {config['trending_half_life_days']} days, fold-in weights "
              f"{config['fold_in_weights']} for histories {config['history_buckets']}+; "
              f"offline test HR@10 {m['offline_test']['hr@10']:.4f}; policy tuning {m['tuning_seconds']:.1f}s")
        for label, r in m["model"].items():
            rows.append([name, f"model {label}", "", r])
        for protocol, by_n in m["fold-in"].items():
            for n, variants in by_n.items():
                rows.extend([name, f"new, {protocol}: {label}", str(n), r] for label, r in variants.items())
    rows.extend(["-", f"no history: {label}", "", r] for label, r in report["popular-fallback"].items())
    header = ["model", "strategy / variant", "n", "users", "served as", "HR@10", "NDCG@10", "p50 ms", "p99 ms"]
    table = [[name, label, n, str(r["users"]), r["strategy"], f"{r['hr@10']:.4f}", f"{r['ndcg@10']:.4f}",
              f"{r['latency']['p50_ms']:.3f}", f"{r['latency']['p99_ms']:.3f}"] for name, label, n, r in rows]
    widths = [max(len(c) for c in column) for column in zip(header, *table)]
    for line in [header, ["-" * w for w in widths], *table]:
        print("  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))))


if __name__ == "__main__":
    main()
