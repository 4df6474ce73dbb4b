"""What a candidate is compared with, measured on the candidate's own split in the same run.

A promotion gate that compares numbers from different cards compares different data (an
ML-100K candidate against a production model trained on synthetic events). Here the
most-popular baseline and the production version's configuration (its model and params)
are fitted on the candidate's training part and scored on its test items with the same
code, so the three numbers differ only by model.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from models.evaluation import Split
from models.training import train

KEYS = ("ndcg@10", "hr@10")


def _full(result: Any) -> dict[str, float]:
    row = next(r for r in result.metrics if r["protocol"] == "full")
    return {key: float(row[key]) for key in KEYS}


def baseline_metrics(model_name: str, frame: pd.DataFrame, split: Split,
                     production: dict[str, Any] | None) -> dict[str, Any]:
    """``{"popularity": {...}, "production": {"version", ...} | None}`` on ``split`` of ``frame``.

    ``production`` is the production version's model card (None when there is none, or it is
    the most-popular model's own gate); its params are refitted, not re-tuned.
    """
    out: dict[str, Any] = {"split": "leave-last-out of this card's data", "popularity": None, "production": None}
    if model_name != "popularity":
        out["popularity"] = _full(train("popularity", frame, tune=False, progress=False, split=split))
    if production is not None:
        refit = train(model_name, frame, params=production["params"], tune=False, progress=False, split=split)
        out["production"] = {"version": production["version"], **_full(refit)}
    return out
