"""Spam detection quality: precision and recall over spam intensities, robust rule against mean + 3 sigma.

Run from the repository root (no broker needed)::

    python -m bench.spam [--data ../shared/data/ml-100k] [--seeds 5] [--smoke]

For each intensity (a spam account's burst: that many 5- or 1-star ratings inside one clock
hour, the simulator's ``--spam-users`` behaviour) and seed, the simulator builds the stream
of the data set with ``--spam`` spam accounts, its history squeezed into ``--span-hours`` so
that hundreds of users are active in every hour, as on a live service. The rate events are
then replayed, in time order, through the detector's own code (``app.spam.windows``: one
state per partition, summaries merged by the coordinator, thresholds sent back), so the
figures are those of the streaming path, not of a re-implementation. The legacy rule (mean +
3 sigma of the same window's population, suspects included, no floor) is applied to the
same per-window counts.

A user counts as flagged when flagged in any window. Recall is the share of spam accounts
flagged, precision the share of flagged users that are spam accounts; each with a 95% Wilson
interval over all seeds. The last line printed is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from app.partitioning import partition_of, user_key
from app.spam.windows import (close_windows, count_event, forget_decided, new_coordinator_state,
                              new_decided_state, new_partition_state, receive_summary, suspects)
from models.data.events import EventStream, build_stream

HOUR_MS = 3_600_000
RATE_KIND = 1  # models.data.events' code of a rate event
INTENSITIES = (10, 20, 30, 45, 60, 100, 300)


def rate_events(stream: EventStream) -> pd.DataFrame:
    """The stream's rate events as ``ts, user_id`` columns, in stream (time) order."""
    rates = stream.kind == RATE_KIND
    return pd.DataFrame({"ts": stream.ts[rates], "user_id": stream.user_id[rates]})


def detect(rates: pd.DataFrame, partitions: int, window_ms: int, grace_ms: int, floor: int,
           min_population: int = 10) -> set[int]:
    """Users the streaming detector flags, replaying ``rates`` through its partitions and coordinator."""
    parts = [new_partition_state() for _ in range(partitions)]
    decisions = [new_decided_state() for _ in range(partitions)]
    users: dict[int, dict[str, Any]] = {}
    coord, flagged = new_coordinator_state(), set()
    now_ms = int(rates["ts"].max())  # a replay of the past: the clock is past every event

    def decide(partition: int, summary: dict[str, Any] | None) -> None:
        if summary is None:
            return
        for verdict in receive_summary(coord, partition, summary, partitions, window_ms, floor, min_population):
            for part, decided in zip(parts, decisions):
                flagged.update(user for user, _ in suspects(part, decided, verdict))
                forget_decided(part, decided["decided_until"])

    for offset, (ts, user) in enumerate(zip(rates["ts"].tolist(), rates["user_id"].tolist())):
        p = partition_of(user_key(user), partitions)
        count_event(parts[p], users.setdefault(user, {"windows": {}}), user, ts, f"rate:{p}", offset,
                    window_ms, floor, now_ms)
        decide(p, close_windows(parts[p], window_ms, grace_ms))
    for p, part in enumerate(parts):  # the end of the stream closes every window
        part["watermark"] = int(rates["ts"].max()) + window_ms + grace_ms
        decide(p, close_windows(part, window_ms, grace_ms))
    return flagged


def plain_rule(rates: pd.DataFrame, window_ms: int) -> set[int]:
    """Users above mean + 3 sigma (ddof 0, suspects included) of their window's counts."""
    counts = rates.assign(window=rates["ts"] // window_ms).groupby(["window", "user_id"]).size()
    by_window = counts.groupby(level="window")
    threshold = by_window.transform("mean") + 3 * by_window.transform(lambda c: c.std(ddof=0))
    return set(counts[counts > threshold].index.get_level_values("user_id").tolist())


def proportion(hits: int, n: int) -> dict[str, Any]:
    """A share with its 95% Wilson interval (None when there is nothing to divide)."""
    if not n:
        return {"value": None, "ci95": None, "n": 0}
    ci = binomtest(hits, n).proportion_ci(method="wilson")
    return {"value": round(hits / n, 4), "ci95": [round(ci.low, 4), round(ci.high, 4)], "n": n}


def squeeze(interactions: pd.DataFrame, span_hours: float) -> pd.DataFrame:
    """The interactions with their times scaled into ``span_hours`` (order kept)."""
    ts = interactions["ts"].to_numpy(np.int64)
    scale = span_hours * HOUR_MS / max(int(ts.max() - ts.min()), 1)
    return interactions.assign(ts=ts.min() + ((ts - ts.min()) * scale).astype(np.int64))


def load(source: str, users: int) -> pd.DataFrame:
    from app.commands import load_source

    frame = load_source(source, seed=0)
    if users:
        frame = frame[frame["user_id"].isin(np.sort(frame["user_id"].unique())[:users])]
    return frame


def run(args: argparse.Namespace) -> dict[str, Any]:
    interactions = squeeze(load(args.data, args.users), args.span_hours)
    window_ms, grace_ms = args.window_s * 1000, args.grace_s * 1000
    rows = []
    for burst in args.intensities:
        tallies = {rule: {"tp": 0, "fp": 0, "spam": 0} for rule in ("robust", "plain")}
        honest_users = 0
        for seed in range(args.seeds):
            stream = build_stream(interactions, seed=seed, max_minutes=args.max_minutes, request_share=0.0,
                                  spam_users=args.spam, spam_burst=burst)
            rates = rate_events(stream)
            honest_users += rates["user_id"].nunique() - len(stream.spammers)
            found = {"robust": detect(rates, args.partitions, window_ms, grace_ms, args.floor,
                                      args.min_population),
                     "plain": plain_rule(rates, window_ms)}
            for rule, flagged in found.items():
                tallies[rule]["tp"] += len(flagged & stream.spammers)
                tallies[rule]["fp"] += len(flagged - stream.spammers)
                tallies[rule]["spam"] += len(stream.spammers)
        row: dict[str, Any] = {"burst": burst, "honest_users": honest_users}
        for rule, t in tallies.items():
            row[rule] = {"recall": proportion(t["tp"], t["spam"]),
                         "precision": proportion(t["tp"], t["tp"] + t["fp"]), "false_positives": t["fp"]}
        rows.append(row)
    return {"bench": "spam", "data": args.data, "users": args.users, "seeds": args.seeds,
            "spam_accounts_per_run": args.spam, "span_hours": args.span_hours, "window_s": args.window_s,
            "floor": args.floor, "min_population": args.min_population, "partitions": args.partitions, "rows": rows}


def print_table(result: dict[str, Any]) -> None:
    def fmt(share: dict[str, Any]) -> str:
        if share["value"] is None:
            return "   -               "
        low, high = share["ci95"]
        return f"{share['value']:.3f} [{low:.2f},{high:.2f}]"

    print(f"{'burst':>5}  {'robust recall':<20}{'robust precision':<20}{'fp':>4}  "
          f"{'plain recall':<20}{'plain precision':<20}{'fp':>4}")
    for row in result["rows"]:
        r, p = row["robust"], row["plain"]
        print(f"{row['burst']:>5}  {fmt(r['recall']):<20}{fmt(r['precision']):<20}{r['false_positives']:>4}  "
              f"{fmt(p['recall']):<20}{fmt(p['precision']):<20}{p['false_positives']:>4}")


def data_arguments(parser: argparse.ArgumentParser) -> None:
    """The data options this bench shares with ``bench.poisoning``."""
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared/data/ml-100k"),
                        help="A MovieLens folder or 'synthetic'.")
    parser.add_argument("--users", type=int, default=0, help="Keep the first N users (0: all).")
    parser.add_argument("--span-hours", type=float, default=72.0)
    parser.add_argument("--floor", type=int, default=30)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_arguments(parser)
    parser.add_argument("--intensities", type=int, nargs="+", default=list(INTENSITIES))
    parser.add_argument("--spam", type=int, default=20, help="Spam accounts per run.")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max-minutes", type=int, default=3)
    parser.add_argument("--window-s", type=int, default=3600)
    parser.add_argument("--grace-s", type=int, default=300)
    parser.add_argument("--min-population", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help="A tiny run: synthetic data, 150 users, 1 seed.")
    args = parser.parse_args(argv)
    if args.smoke:
        args.data, args.users, args.seeds, args.spam, args.intensities = "synthetic", 150, 1, 4, [10, 300]
    return args


def report(result: dict[str, Any], print_table: Callable[[dict[str, Any]], None]) -> None:
    """The table for people, then the one JSON line for machines."""
    print_table(result)
    print(json.dumps(result, separators=(",", ":")))


def main(argv: list[str] | None = None) -> None:
    report(run(parse_args(argv)), print_table)


if __name__ == "__main__":
    main()
