"""Rollout requests, from the CLI or ``POST /rollout``: checked, then turned into ``ModelEvent``s.

One path for both: a request is parsed (``parse``), checked against the current rollout state
and the registry (``plan``), and only then published, so bad input (an unknown model or
version, a percent outside 0..100, a second experiment on a model, a malformed body) is a
clear error and publishes nothing. ``promote`` and a stable ``rollback`` change the
registry's production first (the quality gate applies), as ``movie-recs registry`` does.
"""
from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from app.registry import GateRefused, Registry, RegistryError
from app.rollout.state import RESERVED_ARMS, RolloutState

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class RolloutError(Exception):
    """A request that is refused; ``status`` is the HTTP status (400, 404 or 409)."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(f"{error}: {detail}")
        self.status, self.error, self.detail = status, error, detail


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArmRequest(_Request):
    """One A/B arm: ``name`` (on responses), the version it serves, an optional re-ranker."""

    name: str = Field(pattern=NAME)
    model_name: str = Field(pattern=NAME)
    model_version: str = Field(pattern=NAME)
    reranker: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in RESERVED_ARMS:
            raise ValueError(f"arm name {name!r} is reserved ({', '.join(sorted(RESERVED_ARMS))})")
        return name


class Canary(_Request):
    action: Literal["canary"]
    model_name: str = Field(pattern=NAME)
    model_version: str = Field(pattern=NAME)
    percent: int = Field(ge=0, le=100)
    reranker: str | None = Field(None, min_length=1, max_length=200)


class Shadow(_Request):
    action: Literal["shadow"]
    model_name: str = Field(pattern=NAME)
    model_version: str = Field(pattern=NAME)


class ShadowStop(_Request):
    action: Literal["shadow_stop"]
    model_name: str = Field(pattern=NAME)


class Promote(_Request):
    action: Literal["promote"]
    model_name: str = Field(pattern=NAME)
    model_version: str = Field(pattern=NAME)
    force: str = Field("", max_length=500, description="Skip the quality gate, giving the reason.")


class Rollback(_Request):
    action: Literal["rollback"]
    model_name: str = Field(pattern=NAME)
    reason: str = Field("manual rollback", min_length=1, max_length=500)


class AbStart(_Request):
    action: Literal["ab_start"]
    experiment: str = Field(pattern=NAME)
    arms: list[ArmRequest] = Field(min_length=2, max_length=10)
    split: int | None = Field(None, ge=1, le=99, description="Percent of users in the first arm (two arms).")

    @model_validator(mode="after")
    def _arms_fit(self) -> AbStart:
        if len({arm.name for arm in self.arms}) != len(self.arms):
            raise ValueError("arm names must differ")
        if self.split is not None and len(self.arms) != 2:
            raise ValueError("split needs exactly two arms (more arms share users evenly)")
        return self

    def weights(self) -> list[int]:
        if self.split is not None:
            return [self.split, 100 - self.split]
        even, rest = divmod(100, len(self.arms))
        return [even + (1 if index < rest else 0) for index in range(len(self.arms))]


class AbStop(_Request):
    action: Literal["ab_stop"]
    experiment: str = Field(pattern=NAME)


Request = Annotated[Union[Canary, Shadow, ShadowStop, Promote, Rollback, AbStart, AbStop],
                    Field(discriminator="action")]
_REQUEST = TypeAdapter(Request)
ACTIONS = ("canary", "shadow", "shadow_stop", "promote", "rollback", "ab_start", "ab_stop")


def parse(body: Any) -> Request:
    """A request from a decoded JSON body; ``RolloutError`` 400 saying what is wrong."""
    if not isinstance(body, dict):
        raise RolloutError(400, "bad body", "the body must be a JSON object with an 'action'")
    if body.get("action") not in ACTIONS:
        raise RolloutError(400, "bad action", f"action must be one of {', '.join(ACTIONS)}, not {body.get('action')!r}")
    try:
        return _REQUEST.validate_python(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in error['loc'][1:]) or 'body'}: {error['msg']}"
                             for error in exc.errors())
        raise RolloutError(400, "bad request", problems) from None


def event(action: str, model_name: str, model_version: str = "", *, actor: str, percent: int = 0,
          reason: str = "", experiment: str = "", arm: str = "", params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``ModelEvent`` record."""
    return {"ts": int(time.time() * 1000), "action": action, "model_name": model_name,
            "model_version": model_version, "percent": percent, "reason": reason, "actor": actor,
            "experiment": experiment, "arm": arm, "params": json.dumps(params, sort_keys=True) if params else ""}


async def _exists(registry: Registry, name: str, version: str) -> None:
    try:
        await registry.card(name, version)
    except RegistryError as exc:
        raise RolloutError(404, "unknown model version", str(exc)) from None


async def stable_version(state: RolloutState, registry: Registry, name: str) -> str | None:
    """What ``name``'s traffic is served now: the stream's stable, else the registry's choice."""
    traffic = state.traffic(name)
    if traffic.stable:
        return traffic.stable
    production = (await registry.stages(name))["production"]
    if production or traffic.registered:
        return production or traffic.registered
    try:
        return await registry.latest(name)
    except RegistryError:
        return None


async def plan(request: Request, state: RolloutState, registry: Registry, *, actor: str,
               max_regression: float) -> dict[str, Any]:
    """The event that carries out ``request`` in ``state``; ``RolloutError`` when it may not."""
    if isinstance(request, Canary):
        await _exists(registry, request.model_name, request.model_version)
        traffic = state.traffic(request.model_name)
        if traffic.experiment:
            raise RolloutError(409, "trial running", f"experiment {traffic.experiment.experiment!r} splits "
                               f"{request.model_name}'s users; stop it before a canary")
        if request.model_version == await stable_version(state, registry, request.model_name):
            raise RolloutError(409, "already stable", f"{request.model_name} {request.model_version} is stable")
        return event("canary", request.model_name, request.model_version, actor=actor, percent=request.percent,
                     params={"reranker": request.reranker} if request.reranker else None)
    if isinstance(request, Shadow):
        await _exists(registry, request.model_name, request.model_version)
        return event("shadow", request.model_name, request.model_version, actor=actor)
    if isinstance(request, ShadowStop):
        shadow = state.traffic(request.model_name).shadow
        if shadow is None:
            raise RolloutError(409, "no shadow", f"{request.model_name} has no shadow version")
        return event("shadow_stop", request.model_name, shadow.model_version, actor=actor)
    if isinstance(request, Promote):
        await _exists(registry, request.model_name, request.model_version)
        try:
            stages = await registry.promote(request.model_name, request.model_version,
                                            max_regression=max_regression, force_reason=request.force)
        except GateRefused as exc:
            raise RolloutError(409, "quality gate", str(exc)) from None
        return event("promote", request.model_name, request.model_version, actor=actor, percent=100,
                     reason=stages["history"][-1]["reason"])
    if isinstance(request, Rollback):
        traffic = state.traffic(request.model_name)
        if traffic.canary:
            return event("rollback", request.model_name, traffic.canary.model_version, actor=actor,
                         reason=request.reason, arm="canary")
        try:
            stages = await registry.rollback(request.model_name, request.reason)
        except RegistryError as exc:
            raise RolloutError(409, "nothing to roll back", str(exc)) from None
        return event("rollback", request.model_name, stages["production"], actor=actor, percent=100,
                     reason=request.reason, arm="stable")
    if isinstance(request, AbStart):
        running = state.experiment(request.experiment)
        if running:
            raise RolloutError(409, "experiment running",
                               f"experiment {request.experiment!r} already runs on {running.model_name}")
        name = request.arms[0].model_name
        traffic = state.traffic(name)
        if traffic.experiment:
            raise RolloutError(409, "experiment running", f"experiment {traffic.experiment.experiment!r} already "
                               f"splits {name}'s users; one experiment per model at a time")
        if traffic.canary:
            raise RolloutError(409, "trial running", f"{name} has a canary ({traffic.canary.model_version}); "
                               "promote or roll it back before an experiment")
        for arm in request.arms:
            await _exists(registry, arm.model_name, arm.model_version)
        arms = [{**arm.model_dump(), "weight": weight} for arm, weight in zip(request.arms, request.weights())]
        return event("ab_start", name, request.arms[0].model_version, actor=actor, experiment=request.experiment,
                     percent=arms[0]["weight"], params={"arms": arms})
    running = state.experiment(request.experiment)
    if running is None:
        raise RolloutError(404, "unknown experiment", f"no experiment {request.experiment!r} is running")
    return event("ab_stop", running.model_name, running.control.model_version, actor=actor,
                 experiment=request.experiment)
