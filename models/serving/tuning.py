"""Choose the serving policy per strategy on the freshest validation window, on users like the ones it serves.

The tuning frame (everything training may see; never a test period) is cut at
:data:`VALIDATION_QUANTILE` of its time. A model with the trainer's parameters is fitted on
the part before the cut and answers the window after it, as the served model answers the
weeks after its training. Every candidate is answered by
:func:`models.serving.offline.serve_cases` (the served :func:`recommend`) and scored by
validation NDCG@10 over users (:func:`models.evaluation.list_metrics`):

- ``popular-fallback``: users first seen in the window, no history, every movie of theirs in the
  window relevant; each trending half-life of :data:`HALF_LIVES_DAYS` and the training counts.
  The best half-life becomes the live counts' (a worker keeps one trending counter).
- ``fold-in``: the same users with their first n events live (n in :data:`TUNED_HISTORY`), the
  rest relevant; per history bucket a weight of :data:`BLEND_WEIGHTS`, with either popularity
  (the live counts at the chosen half-life, or the training counts).
- ``model``: users known before the cut with new movies in the window, asked at the cut; the
  model's weight against either popularity. Then the weight for *active* known users (latest
  event at most ``active_within_hours`` before the request): known users' next movie in the
  window asked at its moment, their earlier window movies live (:func:`session_cases`).

Retraining calls this on its newest data, so the choices follow the catalogue as it changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pandas as pd

from models.bundle import ModelBundle
from models.evaluation import (
    Case, TimeCut, cold_start_cases, list_metrics, quantile_ts, session_cases, temporal_cases, time_cut,
)
from models.factory import create_model, model_class
from models.interactions import IdMaps, recency_matrix
from models.serving.config import HOUR_MS, PolicyConfig, bucket_of
from models.serving.offline import K, Ranker, serve_cases

VALIDATION_QUANTILE = 0.875
"""Where the tuning frame is cut: with a frame that ends at the 80th percentile of a data set's
time (the test cut), the validation cut is its 70th percentile."""
HALF_LIVES_DAYS: tuple[Optional[float], ...] = (1.0, 3.0, 7.0, 14.0, 30.0, None)
"""Trending half-lives tried; None is all-time counts."""
BLEND_WEIGHTS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
"""Model / fold-in weights tried: 0 is popularity alone, 1 the model alone."""
TUNED_HISTORY = (1, 2, 3, 4, 6, 8, 12, 16)
"""Live history lengths of the fold-in tuning: each bucket of :data:`HISTORY_BUCKETS` has one or two."""
SOURCES = ("trending", "training")
SELECTION_METRIC = f"ndcg@{K}"
"""What tuning maximises: mean validation NDCG@10 over users."""


@dataclass(frozen=True)
class PolicyTuning:
    """The chosen policy and the validation figures behind it; :meth:`card` goes in the model card."""

    config: PolicyConfig
    window: dict[str, Any]
    """The validation cut, the window's end and how many users of each population it had."""
    log: dict[str, list[dict]]
    """Per strategy, every candidate tried and its validation figures."""

    def card(self) -> dict[str, Any]:
        """JSON-ready summary: the config, what chose it and every candidate's figures."""
        return {"config": self.config.model_dump(mode="json"), "window": self.window,
                "selection_metric": f"validation {SELECTION_METRIC} (mean over users)", **self.log}


def _scores(ranker: Ranker, cases: Sequence[Case], events: pd.DataFrame) -> dict[str, float]:
    if not cases:
        return {f"hr@{K}": 0.0, f"ndcg@{K}": 0.0}
    metrics = list_metrics(serve_cases(ranker, cases, events), [c.relevant for c in cases], K)
    return {key: round(float(metrics[key].mean()), 4) for key in (f"hr@{K}", f"ndcg@{K}")}


def fit_before(model_name: str, params: dict[str, Any], split: TimeCut) -> ModelBundle:
    """A model of the interactions before the cut: its users are the known ones."""
    maps = IdMaps.from_frame(split.before)
    return ModelBundle(create_model(model_name, params).fit(recency_matrix(split.before, maps)), maps)


def tune_fallback(bundle: ModelBundle, cases: Sequence[Case], events: pd.DataFrame) -> tuple[PolicyConfig, list[dict]]:
    """The live counts' half-life and the fallback's popularity, on new users with no history."""
    log = []
    for source in SOURCES:
        for half_life in HALF_LIVES_DAYS if source == "trending" else (None,):
            config = PolicyConfig(trending_half_life_days=half_life, fallback_popularity=source)
            log.append({"popularity": source, "half_life_days": half_life,
                        **_scores(Ranker(bundle, config, anonymous=True), cases, events)})
    trending = max((r for r in log if r["popularity"] == "trending"), key=lambda r: r[SELECTION_METRIC])
    best = max(log, key=lambda r: r[SELECTION_METRIC])  # first of equals: live counts
    config = PolicyConfig(trending_half_life_days=trending["half_life_days"], fallback_popularity=best["popularity"])
    return config, log


def tune_fold_in(bundle: ModelBundle, split: TimeCut, events: pd.DataFrame,
                 config: PolicyConfig) -> tuple[PolicyConfig, list[dict]]:
    """Per history bucket the fold-in weight and the popularity it blends with, on new users."""
    buckets = len(config.history_buckets)
    log, weights, sources = [], [], []
    for bucket in range(buckets):
        cases = [c for n in TUNED_HISTORY if int(bucket_of(n, config.history_buckets)) == bucket
                 for c in cold_start_cases(split, n)]
        rows = []
        for source in SOURCES:
            for weight in BLEND_WEIGHTS:
                candidate = config.model_copy(update={"fold_in_popularity": (source,) * buckets,
                                                      "fold_in_weights": (weight,) * buckets})
                rows.append({"bucket": config.history_buckets[bucket], "popularity": source, "weight": weight,
                             "queries": len(cases), **_scores(Ranker(bundle, candidate), cases, events)})
        log.extend(rows)
        # ties (an empty bucket included) go to the live counts, then the higher weight
        best = max(sorted(rows, key=lambda r: (r["popularity"] != "trending", -r["weight"])),
                   key=lambda r: r[SELECTION_METRIC])
        weights.append(best["weight"])
        sources.append(best["popularity"])
    return config.model_copy(update={"fold_in_popularity": tuple(sources), "fold_in_weights": tuple(weights)}), log


def tune_model(bundle: ModelBundle, cases: Sequence[Case], events: pd.DataFrame,
               config: PolicyConfig) -> tuple[PolicyConfig, list[dict]]:
    """Known users' model weight and the popularity it blends with."""
    log = []
    for source in SOURCES:
        for weight in BLEND_WEIGHTS:
            candidate = config.model_copy(update={"model_popularity": source, "model_weight": weight})
            log.append({"popularity": source, "weight": weight, **_scores(Ranker(bundle, candidate), cases, events)})
    best = max(reversed(log), key=lambda r: r[SELECTION_METRIC])  # ties: the model alone, live counts
    return config.model_copy(update={"model_popularity": best["popularity"], "model_weight": best["weight"]}), log


def tune_active(bundle: ModelBundle, cases: Sequence[Case], events: pd.DataFrame,
                config: PolicyConfig) -> tuple[PolicyConfig, list[dict]]:
    """Active known users' model weight (same popularity as the idle ones), on the active ``cases``."""
    limit = config.active_within_hours * HOUR_MS
    active = [c for c in cases if c.last_active is not None and c.ts - c.last_active <= limit]
    log = []
    for weight in BLEND_WEIGHTS:
        candidate = config.model_copy(update={"active_model_weight": weight})
        log.append({"popularity": config.model_popularity, "weight": weight, "queries": len(active),
                    **_scores(Ranker(bundle, candidate), active, events)})
    best = max(reversed(log), key=lambda r: r[SELECTION_METRIC])  # ties: the model alone
    return config.model_copy(update={"active_model_weight": best["weight"]}), log


def tune_policy(frame: pd.DataFrame, model_name: str, seed: int = 0, *, params: Optional[dict[str, Any]] = None,
                quantile: float = VALIDATION_QUANTILE, bundle: Optional[ModelBundle] = None) -> PolicyTuning:
    """Tune the serving policy of ``model_name`` on ``frame``'s freshest window (module docstring).

    ``params`` are the model's (the trainer's chosen ones; defaults otherwise); ``seed`` seeds
    the model; a ``bundle`` already fitted on the part before the cut may be passed (a cache).
    """
    params = dict(params or {})
    if "seed" in model_class(model_name).Params.model_fields:
        params.setdefault("seed", seed)
    split = time_cut(frame, quantile_ts(frame, quantile))
    bundle = bundle if bundle is not None else fit_before(model_name, params, split)
    newcomers, known = cold_start_cases(split, 0), temporal_cases(split, known=True)
    config, fallback_log = tune_fallback(bundle, newcomers, frame)
    config, fold_in_log = tune_fold_in(bundle, split, frame, config)
    config, model_log = tune_model(bundle, known, frame, config)
    config, active_log = tune_active(bundle, session_cases(split), frame, config)
    window = {"cut_ts": split.cut, "end_ts": int(frame["ts"].max()), "quantile": quantile,
              "new_users": len(newcomers), "known_users": len(known)}
    return PolicyTuning(config=config, window=window,
                        log={"popular-fallback": fallback_log, "fold-in": fold_in_log, "model": model_log,
                             "model (active)": active_log})
