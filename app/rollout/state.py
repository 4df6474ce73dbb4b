"""The rollout state: what every worker serves, folded from ``model-events`` in order.

``model-events`` is keyed by model name, so one model's events are on one partition, in order;
the state of a model depends only on its own events. A worker that starts later replays the
topic from the beginning (it is kept forever, and small) and folds it into the same state as
the others. Every event carries what its action needs (version, percent, arms, re-ranker), so
the fold is a plain function of the events: no registry, no clock.

Per model (the traffic of workers serving that model):

- ``stable``: the version the last ``promote`` or stable ``rollback`` named;
- at most one trial: a ``canary`` (a version for ``percent`` of users) or an ``experiment``
  (A/B arms splitting all users), never both, so every trial has its control;
- a ``shadow`` version that scores every request but is never served.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

ENDED_KEPT = 20
"""Ended trials (rolled back, promoted, stopped) kept in the state for /rollout/status."""
RESERVED_ARMS = frozenset({"stable", "canary", "shadow"})
"""Arm names with a fixed meaning; an A/B arm may not take them."""


@dataclass(frozen=True)
class ArmSpec:
    """One A/B arm: its name on responses, the version it serves, its share of users."""

    name: str
    model_name: str
    model_version: str
    weight: int
    """Percent of the experiment's users (the weights of an experiment add up to 100)."""
    reranker: str | None = None
    """A re-ranker spec (``mmr:lambda=0.3``) applied to this arm's lists; None for none."""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model_name": self.model_name, "model_version": self.model_version,
                "weight": self.weight, "reranker": self.reranker}


@dataclass(frozen=True)
class Canary:
    """A version served to ``percent`` of a model's users beside the stable one."""

    model_name: str
    model_version: str
    percent: int
    since: int
    """Time of the event that started it (epoch ms): part of its trial id."""
    reranker: str | None = None

    @property
    def salt(self) -> str:
        """What a user's bucket is hashed with: the same users get this version on every worker."""
        return f"canary:{self.model_name}:{self.model_version}"

    @property
    def trial(self) -> str:
        """The id its figures are kept under; a later canary of the same version starts afresh."""
        return f"canary:{self.model_name}:{self.model_version}:{self.since}"

    def as_dict(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "model_version": self.model_version, "percent": self.percent,
                "since": self.since, "reranker": self.reranker, "trial": self.trial}


@dataclass(frozen=True)
class Experiment:
    """An A/B test: every user of a model in one of ``arms``, by a hash of (user, experiment)."""

    experiment: str
    model_name: str
    """The model whose traffic it splits."""
    arms: tuple[ArmSpec, ...]
    since: int

    @property
    def trial(self) -> str:
        return f"ab:{self.experiment}:{self.since}"

    @property
    def control(self) -> ArmSpec:
        """The first arm: what the others are compared with."""
        return self.arms[0]

    def as_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "model_name": self.model_name, "since": self.since,
                "trial": self.trial, "control": self.control.name, "arms": [a.as_dict() for a in self.arms]}


@dataclass(frozen=True)
class Shadow:
    """A version that scores every request of a model off the answer's path; never served."""

    model_name: str
    model_version: str
    since: int

    @property
    def trial(self) -> str:
        return f"shadow:{self.model_name}:{self.model_version}:{self.since}"

    def as_dict(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "model_version": self.model_version, "since": self.since,
                "trial": self.trial}


@dataclass(frozen=True)
class Traffic:
    """The rollout state of one model's traffic."""

    stable: str | None = None
    """The version the stream made stable; None until a promote (then the registry decides)."""
    registered: str | None = None
    """The newest version a ``register`` event named (served while nothing is stable)."""
    canary: Canary | None = None
    experiment: Experiment | None = None
    shadow: Shadow | None = None
    last_rollback: Mapping[str, Any] | None = None

    @property
    def trial(self) -> Canary | Experiment | None:
        return self.canary or self.experiment


@dataclass(frozen=True)
class RolloutState:
    """Every model's traffic, and the trials that ended (newest last)."""

    models: Mapping[str, Traffic] = field(default_factory=dict)
    ended: tuple[Mapping[str, Any], ...] = ()
    events: int = 0
    """Events folded in so far (unknown or refused ones included)."""

    def traffic(self, model_name: str) -> Traffic:
        return self.models.get(model_name, Traffic())

    def experiment(self, experiment: str) -> Experiment | None:
        """The running experiment called ``experiment``, whichever model it is on."""
        for traffic in self.models.values():
            if traffic.experiment is not None and traffic.experiment.experiment == experiment:
                return traffic.experiment
        return None

    def versions(self, model_name: str) -> set[tuple[str, str]]:
        """Every (model, version) the traffic of ``model_name`` needs loaded, stable aside."""
        traffic = self.traffic(model_name)
        named = set()
        if traffic.canary:
            named.add((traffic.canary.model_name, traffic.canary.model_version))
        if traffic.experiment:
            named |= {(a.model_name, a.model_version) for a in traffic.experiment.arms}
        if traffic.shadow:
            named.add((traffic.shadow.model_name, traffic.shadow.model_version))
        return named

    def as_dict(self, model_name: str) -> dict[str, Any]:
        """The part /rollout/status shows of one model's traffic."""
        traffic = self.traffic(model_name)
        return {"stable_version": traffic.stable, "canary": traffic.canary.as_dict() if traffic.canary else None,
                "experiment": traffic.experiment.as_dict() if traffic.experiment else None,
                "shadow": traffic.shadow.as_dict() if traffic.shadow else None,
                "last_rollback": dict(traffic.last_rollback) if traffic.last_rollback else None}


def params_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON ``params`` of an event; {} when empty or unreadable (an older event)."""
    try:
        params = json.loads(event.get("params") or "{}")
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


def arms_of(params: Mapping[str, Any]) -> tuple[ArmSpec, ...]:
    """The arms an ``ab_start`` event's params list; ValueError when they are malformed."""
    arms = tuple(ArmSpec(str(a["name"]), str(a["model_name"]), str(a["model_version"]), int(a["weight"]),
                         a.get("reranker") or None) for a in params.get("arms", ()))
    if len(arms) < 2 or sum(a.weight for a in arms) != 100 or len({a.name for a in arms}) != len(arms):
        raise ValueError(f"an experiment needs two or more distinct arms whose weights add up to 100: {params}")
    return arms


def _ended(state: RolloutState, trial: Canary | Experiment | Shadow, event: Mapping[str, Any],
           outcome: str) -> tuple[Mapping[str, Any], ...]:
    record = {**trial.as_dict(), "kind": type(trial).__name__.lower(), "outcome": outcome,
              "ended": event["ts"], "reason": event.get("reason", "")}
    return (*state.ended, record)[-ENDED_KEPT:]


def fold(state: RolloutState, event: Mapping[str, Any]) -> RolloutState:
    """The state after ``event`` (a decoded ``ModelEvent``); an event that does not apply is a no-op.

    Workers never refuse an event (the CLI and POST /rollout check requests before they
    publish), but two racing requests can still both be published; the fold then keeps
    the first and ignores the one that no longer applies, the same way on every worker.
    """
    name, version, action = event["model_name"], event["model_version"], event["action"]
    traffic, ended = state.traffic(name), state.ended
    params = params_of(event)
    if action == "register":
        traffic = replace(traffic, registered=version)
    elif action == "promote":
        if traffic.canary and traffic.canary.model_version == version:
            ended = _ended(state, traffic.canary, event, "promoted")
            traffic = replace(traffic, canary=None)
        traffic = replace(traffic, stable=version)
    elif action == "canary" and traffic.experiment is None and version != traffic.stable:
        current = traffic.canary
        if current and current.model_version == version:
            canary = replace(current, percent=event["percent"], reranker=params.get("reranker") or None)
        else:
            if current:
                ended = _ended(state, current, event, "replaced")
            canary = Canary(name, version, event["percent"], event["ts"], params.get("reranker") or None)
        traffic = replace(traffic, canary=canary)
    elif action == "rollback" and event.get("arm") == "canary":
        if traffic.canary and version in ("", traffic.canary.model_version):
            ended = _ended(state, traffic.canary, event, "rolled back")
            traffic = replace(traffic, canary=None, last_rollback=_rollback(event, traffic.canary.model_version))
    elif action == "rollback":  # the registry's production went back to ``version``
        traffic = replace(traffic, stable=version, last_rollback=_rollback(event, version))
    elif action == "shadow":
        traffic = replace(traffic, shadow=Shadow(name, version, event["ts"]))
    elif action == "shadow_stop" and traffic.shadow:
        ended = _ended(state, traffic.shadow, event, "stopped")
        traffic = replace(traffic, shadow=None)
    elif action == "ab_start" and traffic.trial is None and state.experiment(event["experiment"]) is None:
        try:
            arms = arms_of(params)
        except (KeyError, TypeError, ValueError):
            return replace(state, events=state.events + 1)
        traffic = replace(traffic, experiment=Experiment(event["experiment"], name, arms, event["ts"]))
    elif action == "ab_stop" and traffic.experiment and traffic.experiment.experiment == event["experiment"]:
        ended = _ended(state, traffic.experiment, event, "stopped")
        traffic = replace(traffic, experiment=None)
    return RolloutState({**state.models, name: traffic}, ended, state.events + 1)


def _rollback(event: Mapping[str, Any], version: str) -> dict[str, Any]:
    return {"ts": event["ts"], "arm": event.get("arm") or "stable", "model_version": version,
            "reason": event.get("reason", ""), "actor": event.get("actor", "")}


def replay(events: Iterable[Mapping[str, Any]], state: RolloutState | None = None) -> RolloutState:
    """Fold ``events`` in order, from ``state`` (default: nothing deployed)."""
    state = state or RolloutState()
    for event in events:
        state = fold(state, event)
    return state
