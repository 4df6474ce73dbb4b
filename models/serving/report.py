"""Every protocol's figures for the served policy beside its baselines, all measured in one run.

For each protocol, the models are trained as the trainer trains them (parameters chosen by
leave-last-out validation) on what the protocol lets them see, the policy is tuned by
:func:`tune_policy` on that same data's freshest window, and then the served strategy and the
baselines answer the same cases through :func:`serve_cases`:

- ``most-popular``: the training counts (all-time up to the cut), the baseline of every paired difference;
- ``recent <h> d``: popularity of recent days, trending counts with a half-life of h days;
- ``<model> plain``: the model alone (a known user's scores, a new user's plain fold-in), e.g.
  ``itemcf plain`` is the item-KNN baseline and ``als plain`` the ALS fold-in;
- ``<model> served``: the tuned policy; ``<model> served, no live history`` the same policy
  with the live history hidden, so the paired difference says what the live events bring.

A served row also holds its paired differences against its model's plain row (``vs_plain``),
the best baseline by NDCG@10 (``vs_best_baseline``) and, in cold start, ``vs_no_history``.

Protocols: ``leave-last-out`` (each user's last interaction at its moment, models fitted on
the rest), ``temporal`` (test cut at :data:`TEST_QUANTILE` of time; known users, and all users)
and ``cold-start`` (users first seen after the cut, n = 0 and :data:`HISTORY_LENGTHS`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd

from models.bundle import ModelBundle
from models.evaluation import (
    HISTORY_LENGTHS, Case, Split, cold_start_cases, leave_last_split, list_metrics, quantile_ts, summarise,
    temporal_cases, time_cut,
)
from models.serving.offline import K, Ranker, popular, pure, serve_cases
from models.serving.tuning import PolicyTuning, tune_policy
from models.training import train

PROTOCOL_NAMES = ("leave-last-out", "temporal", "cold-start")
TEST_QUANTILE = 0.8
"""The test cut of the time-based protocols: the 80th percentile of the data's time."""
RECENT_DAYS = (3.0, 7.0, 30.0)
"""Half-lives of the popularity-of-recent-days baselines."""
BASELINE = "most-popular"
SELECTION = f"ndcg@{K}"
"""Which baseline is the best one a served strategy is compared with."""


@dataclass(frozen=True)
class Served:
    """A model as served: the bundle, the trainer's parameters and the tuned policy."""

    bundle: ModelBundle
    params: dict[str, Any]
    tuning: PolicyTuning


def serve_models(frame: pd.DataFrame, names: Sequence[str], *, tune: bool = True, seed: int = 0,
                 split: Split | None = None) -> dict[str, Served]:
    """Each model trained on ``frame`` as the trainer trains it, and its policy tuned on what it may see.

    Without ``split`` the model is refitted on all of ``frame`` (a time protocol's pre-cut
    data) and the policy tuned on ``frame``; with a leave-last-out ``split`` of ``frame`` the
    model is the trainer's train + validation fit and the policy is tuned on train + validation
    alone, so no test item enters either.
    """
    served = {}
    for name in names:
        result = train(name, frame, tune=tune, seed=seed, progress=False, refit_all=split is None, split=split)
        seen = frame if split is None else split.frame("train+validation")
        served[name] = Served(result.bundle, result.params, tune_policy(seen, name, seed, params=result.params))
    return served


def rankers(served: dict[str, Served], with_no_history: bool) -> dict[str, Ranker]:
    """Everything evaluated, by label (module docstring); the first model is the served one."""
    first = next(iter(served.values()))
    out = {BASELINE: Ranker(first.bundle, popular(training=True), anonymous=True)}
    out.update({f"recent {h:g} d": Ranker(first.bundle, popular(h), anonymous=True) for h in RECENT_DAYS})
    for name, model in served.items():
        out[f"{name} plain"] = Ranker(model.bundle, pure(model.tuning.config))
        out[f"{name} served"] = Ranker(model.bundle, model.tuning.config)
        if with_no_history:
            out[f"{name} served, no live history"] = Ranker(model.bundle, model.tuning.config, anonymous=True)
    return out


def score(rankers_: dict[str, Ranker], cases: Sequence[Case], events: pd.DataFrame,
          labels: dict[str, Any]) -> list[dict]:
    """One row per ranker: means, 95% intervals, paired differences against most-popular (and more)."""
    relevant = [c.relevant for c in cases]
    metrics = {label: list_metrics(serve_cases(r, cases, events), relevant, K) for label, r in rankers_.items()}
    baselines = [label for label in metrics if " served" not in label]
    rows = []
    for label, values in metrics.items():
        row = {**labels, "ranker": label, **summarise(values, None if label == BASELINE else metrics[BASELINE])}
        row["vs_most_popular"] = row.pop("vs_baseline", None)
        if label.endswith(" served"):
            name = label.removesuffix(" served")
            row["vs_plain"] = summarise(values, metrics[f"{name} plain"])["vs_baseline"]
            row["best_baseline"] = max(baselines, key=lambda b: metrics[b][SELECTION].mean())
            row["vs_best_baseline"] = summarise(values, metrics[row["best_baseline"]])["vs_baseline"]
            if f"{label}, no live history" in metrics:
                row["vs_no_history"] = summarise(values, metrics[f"{label}, no live history"])["vs_baseline"]
        rows.append(row)
    return rows


def time_protocols(frame: pd.DataFrame, names: Sequence[str], protocols: Sequence[str] = ("temporal", "cold-start"),
                   *, tune: bool = True, seed: int = 0, quantile: float = TEST_QUANTILE,
                   lengths: Sequence[int] = HISTORY_LENGTHS) -> tuple[list[dict], dict[str, Served]]:
    """Rows of the temporal and cold-start protocols (test cut at ``quantile``), and the served models."""
    split = time_cut(frame, quantile_ts(frame, quantile))
    served = serve_models(split.before, names, tune=tune, seed=seed)
    rows = []
    if "temporal" in protocols:
        for population, known in (("known users", True), ("all users", None)):
            cases = temporal_cases(split, known=known)
            rows += score(rankers(served, False), cases, frame, {"protocol": "temporal", "population": population})
    if "cold-start" in protocols:
        for n in (0, *lengths):
            rows += score(rankers(served, True), cold_start_cases(split, n), frame,
                          {"protocol": "cold-start", "population": "new users", "n": n})
    return rows, served


def leave_last_out(frame: pd.DataFrame, names: Sequence[str], *, tune: bool = True,
                   seed: int = 0) -> tuple[list[dict], dict[str, Served]]:
    """Rows of leave-last-out: each user's test item asked at its moment, the models fitted on the rest."""
    split = leave_last_split(frame)
    served = serve_models(frame, names, tune=tune, seed=seed, split=split)
    known = split.frame("train+validation").groupby("user_id")
    seen, last = known["movie_id"].apply(tuple), known["ts"].max()
    cases = [Case(user_id=int(u), ts=int(t), history=(), exclude=seen[u], relevant=frozenset([int(m)]),
                  last_active=int(last[u]))
             for u, m, t in split.test[["user_id", "movie_id", "ts"]].itertuples(index=False)]
    return score(rankers(served, False), cases, split.frame("all"), {"protocol": "leave-last-out"}), served


def report(frame: pd.DataFrame, protocols: Sequence[str], names: Sequence[str], *, tune: bool = True,
           seed: int = 0, lengths: Sequence[int] = HISTORY_LENGTHS) -> dict[str, Any]:
    """Every asked protocol's rows and each served model's tuned policy card, JSON-ready."""
    rows: list[dict] = []
    policies: dict[str, Any] = {}
    if "leave-last-out" in protocols:
        found, served = leave_last_out(frame, names, tune=tune, seed=seed)
        rows += found
        policies["leave-last-out"] = {n: {"params": s.params, **s.tuning.card()} for n, s in served.items()}
    timed = [p for p in protocols if p != "leave-last-out"]
    if timed:
        found, served = time_protocols(frame, names, timed, tune=tune, seed=seed, lengths=lengths)
        rows += found
        policies["time cut"] = {n: {"params": s.params, **s.tuning.card()} for n, s in served.items()}
    return {"rows": rows, "policies": policies}
