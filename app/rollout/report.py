"""A trial's figures and decisions: every arm's counts and each arm against its control.

A canary is compared with stable; an experiment's arms with its first arm (the control), at
``alpha`` split evenly over the comparisons. The decision of a comparison is the sequential
test's: ``ship`` (the arm converts better), ``keep`` (worse: keep the control) or
``inconclusive``; a trial's decision is ``ship`` when an arm is to be shipped (the best such),
``keep`` when every other arm converts worse, else ``inconclusive``.
"""
from __future__ import annotations

from typing import Any, Mapping

from app.rollout.arms import stable_trial
from app.rollout.sequential import MIN_REQUESTS, compare
from app.rollout.state import Canary, Experiment, RolloutState
from app.rollout.stats import Row, figures, new_row


def arms_of_trial(trial: Canary | Experiment, stable_version: str | None) -> list[tuple[str, str, str]]:
    """(arm, model, version) of a trial, the control first."""
    if isinstance(trial, Canary):
        return [("stable", trial.model_name, stable_version or ""), ("canary", trial.model_name, trial.model_version)]
    return [(arm.name, arm.model_name, arm.model_version) for arm in trial.arms]


def trial_report(trial: Canary | Experiment, stable_version: str | None, rows: Mapping[tuple[str, str], Row],
                 alpha: float, min_requests: int = MIN_REQUESTS) -> dict[str, Any]:
    """Figures of every arm of ``trial`` (from merged ``rows``), the comparisons and the decision."""
    arms = arms_of_trial(trial, stable_version)
    found = {arm: rows.get((trial.trial, arm)) or new_row(trial.trial, arm, model, version)
             for arm, model, version in arms}
    control = arms[0][0]
    base = found[control]
    share = alpha / max(1, len(arms) - 1)
    comparisons = {}
    for arm, _, _ in arms[1:]:
        row = found[arm]
        result = compare(base["served"], base["conversions"], row["served"], row["conversions"], share,
                         min_requests=min_requests)
        comparisons[arm] = {"against": control, **result.as_dict()}
    shipped = [arm for arm, c in comparisons.items() if c["decision"] == "ship"]
    if shipped:
        decision, winner = "ship", max(shipped, key=lambda arm: comparisons[arm]["difference"])
    elif comparisons and all(c["decision"] == "keep" for c in comparisons.values()):
        decision, winner = "keep", control
    else:
        decision, winner = "inconclusive", None
    extra = [figures(row) for (trial_id, arm), row in rows.items()
             if trial_id == trial.trial and arm not in found]  # e.g. stable answering for a failed arm
    return {"trial": trial.trial, "control": control, "decision": decision, "winner": winner, "alpha": alpha,
            "arms": [{**figures(found[arm]), **({"comparison": comparisons[arm]} if arm in comparisons else {})}
                     for arm, _, _ in arms] + extra}


def status(model_name: str, state: RolloutState, stable_version: str | None,
           rows: Mapping[tuple[str, str], Row], alpha: float, min_requests: int = MIN_REQUESTS) -> dict[str, Any]:
    """What /rollout/status and ``movie-recs rollout status`` show of one model's traffic.

    The stable version and its figures; the canary or experiment with every arm's figures,
    each arm's comparison with its control and the trial's decision; the shadow and its
    figures; the last rollback and the trials that ended lately.
    """
    traffic = state.traffic(model_name)
    trial = traffic.trial
    report = trial_report(trial, stable_version, rows, alpha, min_requests) if trial else None
    stable_row = rows.get((stable_trial(model_name, stable_version or ""), "stable"))
    if report is not None:
        stable_figures = next((a for a in report["arms"] if a["arm"] == "stable"), None)
    else:
        stable_figures = figures(stable_row) if stable_row else figures(
            new_row(stable_trial(model_name, stable_version or ""), "stable", model_name, stable_version or ""))
    shadow = None
    if traffic.shadow:
        row = rows.get((traffic.shadow.trial, "shadow")) or new_row(
            traffic.shadow.trial, "shadow", traffic.shadow.model_name, traffic.shadow.model_version)
        shadow = {**traffic.shadow.as_dict(), "figures": figures(row)}
    experiment = traffic.experiment
    return {
        "model_name": model_name,
        "stable": {"model_name": model_name, "model_version": stable_version, "figures": stable_figures}
        if stable_version else None,
        "canary": traffic.canary.as_dict() if traffic.canary else None,
        "canary_percent": traffic.canary.percent if traffic.canary else 0,
        "experiment": experiment.as_dict() if experiment else None,
        "ab_arms": [arm.as_dict() for arm in experiment.arms] if experiment else [],
        "shadow": shadow,
        "decision": report["decision"] if report else None,
        "winner": report["winner"] if report else None,
        "arms": report["arms"] if report else [],
        "last_rollback": dict(traffic.last_rollback) if traffic.last_rollback else None,
        "ended": [dict(e) for e in state.ended if e.get("model_name") == model_name][-5:],
    }
