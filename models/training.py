"""Train one model end to end: split, tune on the validation item, refit, evaluate on the test item.

The test item never influences anything: candidates are fitted on the training part and compared
by full-ranking NDCG@10 on the validation item; the chosen parameters are then refitted on
training + validation (the validation item is each user's most recent known interaction, too
valuable to drop), and that final model is the one evaluated on the test item and returned.
With ``refit_all`` the returned bundle is refitted once more on every interaction, for
deployment; its metrics are then those of the train + validation fit with the same parameters.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import pandas as pd
from tqdm.auto import tqdm

from models.base import Recommender
from models.bundle import ModelBundle
from models.evaluation import PROTOCOLS, Split, evaluate, leave_last_split
from models.factory import create_model, model_class

SELECTION_METRIC = "ndcg@10"
"""What tuning maximises, on the validation item under the full protocol."""

GRIDS: dict[str, dict[str, list]] = {
    "popularity": {},
    "itemcf": {
        "neighbours": [10, 20, 50],
        "recency_half_life": [2.0, 5.0, None],
    },
    "als": {
        "factors": [32, 64],
        "regularization": [1.0, 10.0],
        "recency_half_life": [3.0, 10.0, None],
    },
    "ncf": {
        "recency_boost": [10.0, 30.0],
    },
}
"""Small per-model grids, crossed; parameters a caller fixes are left out of the grid."""

NCF_MAX_EPOCHS = 10
"""While tuning NCF, the epoch count is chosen on the validation item among 1..this."""


@dataclass
class TrainResult:
    """Everything a training run produced; :meth:`model_card` is its JSON-ready summary."""

    model_name: str
    bundle: ModelBundle
    """The fitted model with its id maps (fitted on train + validation, or all with refit_all)."""
    params: dict[str, Any]
    """The parameters of the returned model (chosen on validation, or given)."""
    metrics: list[dict]
    """Test-item evaluation, one dict per protocol."""
    validation: list[dict]
    """Validation-item evaluation of the chosen parameters fitted on train (empty without tuning)."""
    tuning: list[dict] = field(default_factory=list)
    """Every candidate tried: its parameters and validation ``hr@10`` / ``ndcg@10`` (full)."""
    training_seconds: float = 0.0
    """Wall time of the whole run: tuning, the final fit(s); not the test evaluation."""
    fit_seconds: float = 0.0
    """Wall time of the final fit alone."""
    dataset: dict = field(default_factory=dict)
    """Users, items, interactions and density of the whole frame."""
    fitted_on: str = "train+validation"
    """Which interactions the returned model was fitted on."""

    def model_card(self) -> dict:
        """Params, metrics, dataset stats and timings, ready for ``model_card.json``."""
        return {
            "model_name": self.model_name,
            "params": self.params,
            "metrics": self.metrics,
            "validation_metrics": self.validation,
            "tuning": self.tuning,
            "selection_metric": f"validation {SELECTION_METRIC} (full)",
            "training_seconds": round(self.training_seconds, 3),
            "fit_seconds": round(self.fit_seconds, 3),
            "dataset": self.dataset,
            "fitted_on": self.fitted_on,
        }


def _metric(results: list[dict], protocol: str = "full", key: str = SELECTION_METRIC) -> float:
    return next(r[key] for r in results if r["protocol"] == protocol)


_ONLY_WITH = {"recency_boost": "recency_half_life"}
"""A grid key that means nothing when the parameter it names is fixed to None."""


def _candidates(model_name: str, fixed: dict[str, Any]) -> list[dict[str, Any]]:
    grid = {
        key: values
        for key, values in GRIDS.get(model_name, {}).items()
        if key not in fixed and not (key in _ONLY_WITH and _ONLY_WITH[key] in fixed and fixed[_ONLY_WITH[key]] is None)
    }
    keys = list(grid)
    return [{**fixed, **dict(zip(keys, values))} for values in itertools.product(*grid.values())] or [dict(fixed)]


def _tune_epochs(
    params: dict[str, Any], split: Split, max_epochs: int, progress: bool
) -> tuple[dict[str, Any], list[dict]]:
    """Fit NCF on train for ``max_epochs``, evaluating the validation item after each epoch."""
    best: dict[str, Any] = {"score": -1.0}
    model = create_model("ncf", {**params, "epochs": max_epochs})

    def on_epoch(epoch: int, fitted: Recommender) -> None:
        results = evaluate(fitted, split, "validation", protocols=PROTOCOLS)
        if _metric(results) > best["score"]:
            best.update(score=_metric(results), epoch=epoch, results=results)

    model.on_epoch = on_epoch
    model.fit(split.matrix("train"), progress=progress)
    return {**params, "epochs": best["epoch"]}, best["results"]


def tune_params(
    model_name: str, split: Split, fixed: dict[str, Any], *, max_epochs: int = NCF_MAX_EPOCHS, progress: bool = False
) -> tuple[dict[str, Any], list[dict], list[dict]]:
    """Pick parameters on the validation item: (chosen params, their validation results, log)."""
    log: list[dict] = []
    best_score, best_params, best_results = -1.0, dict(fixed), []
    candidates = _candidates(model_name, fixed)
    for candidate in tqdm(candidates, desc=f"tune {model_name}", disable=not progress, leave=False):
        if model_name == "ncf" and "epochs" not in fixed:
            candidate, results = _tune_epochs(candidate, split, max_epochs, progress)
        else:
            model = create_model(model_name, candidate).fit(split.matrix("train"))
            results = evaluate(model, split, "validation", protocols=PROTOCOLS)
        score = _metric(results)
        log.append({"params": candidate, "hr@10": _metric(results, key="hr@10"), "ndcg@10": score})
        if score > best_score:
            best_score, best_params, best_results = score, candidate, results
    return best_params, best_results, log


def train(
    model_name: str,
    frame: pd.DataFrame,
    *,
    params: Optional[dict[str, Any]] = None,
    tune: bool = True,
    epochs: Optional[int] = None,
    seed: int = 0,
    progress: bool = True,
    refit_all: bool = False,
    split: Optional[Split] = None,
) -> TrainResult:
    """Split ``frame``, tune (optional), fit on train + validation, evaluate on the test item.

    ``params`` fix parameters (they are not tuned); ``epochs`` fixes NCF's epoch count (with
    ``tune`` the tuned maximum is ``NCF_MAX_EPOCHS``); ``seed`` seeds every model that has a
    ``seed``. ``tune=False`` skips tuning and validation and fits the defaults plus ``params``
    once (with ``epochs=1`` the CI-sized mode). A precomputed ``split`` of ``frame`` may be passed
    to share it between models.
    """
    klass = model_class(model_name)
    fixed = dict(params or {})
    if "seed" in klass.Params.model_fields:
        fixed.setdefault("seed", seed)
    if epochs is not None and "epochs" in klass.Params.model_fields:
        fixed["epochs"] = epochs
    started = time.perf_counter()
    split = split if split is not None else leave_last_split(frame)
    validation: list[dict] = []
    log: list[dict] = []
    chosen = fixed
    if tune:
        chosen, validation, log = tune_params(model_name, split, fixed, progress=progress)
    chosen = klass.Params(**chosen).model_dump(mode="json")
    fit_started = time.perf_counter()
    model = create_model(model_name, chosen).fit(split.matrix("train+validation"), progress=progress)
    fit_seconds = time.perf_counter() - fit_started
    tuned_seconds = time.perf_counter() - started
    metrics = evaluate(model, split, "test", protocols=PROTOCOLS, progress=progress)
    fitted_on = "train+validation"
    if refit_all:
        refit_started = time.perf_counter()
        model = create_model(model_name, chosen).fit(split.matrix("all"), progress=progress)
        tuned_seconds += time.perf_counter() - refit_started
        fitted_on = "all"
    return TrainResult(
        model_name=model_name,
        bundle=ModelBundle(model, split.maps),
        params=chosen,
        metrics=metrics,
        validation=validation,
        tuning=log,
        training_seconds=tuned_seconds,
        fit_seconds=fit_seconds,
        dataset=split.stats(),
        fitted_on=fitted_on,
    )

