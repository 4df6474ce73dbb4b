"""The versions a worker serves: loaded from the registry off the event loop, routed per user.

The rollout state (``app.rollout.state``) names the versions a model's traffic needs: stable,
a canary or an experiment's arms, a shadow. The holder loads each one it does not have yet
(artifact hashes checked, in a thread with its own event loop, so the loop keeps serving),
then swaps in a new ``Routing`` in one assignment. A request takes the routing once and is
answered by the version it found there; versions no longer named are dropped once the last
request that holds them is done.
"""
from __future__ import annotations

import asyncio
import gc
import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any, Awaitable, Callable

import numpy as np
from scipy.sparse import spmatrix

from app.metrics import MODEL_LOAD_FAILURES, MODEL_LOAD_SECONDS, MODEL_MEMORY_BYTES, MODEL_VERSIONS_LOADED
from app.registry import Registry, RegistryError
from app.rollout.arms import assign, stable_trial
from app.rollout.state import RolloutState, Shadow, Traffic
from models.bundle import ModelBundle
from models.exceptions import ArtifactError
from models.serving import PolicyConfig
from models.trending import TrendingCounts

log = logging.getLogger(__name__)
CATALOG = "catalog.json"
Version = tuple[str, str]


def footprint(value: Any, seen: set[int] | None = None, depth: int = 0) -> int:
    """Bytes of the numpy arrays, sparse matrices and torch tensors reachable from ``value``.

    What a loaded version costs in memory, beyond a few kilobytes of Python objects.
    """
    seen = set() if seen is None else seen
    if id(value) in seen or depth > 6:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):  # a view counts the array it views, once
        root = value
        while isinstance(root.base, np.ndarray):
            root = root.base
        if root is not value and id(root) in seen:
            return 0
        seen.add(id(root))
        return int(root.nbytes)
    if isinstance(value, spmatrix):
        return sum(footprint(getattr(value, a, None), seen, depth + 1) for a in ("data", "indices", "indptr"))
    if type(value).__module__.startswith("torch") and hasattr(value, "element_size"):
        return int(value.element_size() * value.nelement())
    if isinstance(value, dict):
        return sum(footprint(v, seen, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(footprint(v, seen, depth + 1) for v in value[:64])
    if hasattr(value, "state_dict") and callable(value.state_dict):  # a torch module
        return sum(footprint(t, seen, depth + 1) for t in value.state_dict().values())
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return sum(footprint(v, seen, depth + 1) for v in vars(value).values())
    return 0


@dataclass(frozen=True)
class Deployed:
    """One registered version ready to serve: model, card, tuned policy, titles, trending."""

    bundle: ModelBundle
    card: dict[str, Any]
    policy: PolicyConfig
    titles: dict[int, str]
    trending: TrendingCounts = field(compare=False)
    memory_bytes: int = field(default=0, compare=False)
    """Bytes of the model's arrays and id maps (see ``footprint``)."""

    @property
    def name(self) -> str:
        return self.card["model_name"]

    @property
    def version(self) -> str:
        return self.card["version"]

    @property
    def key(self) -> Version:
        return self.name, self.version


async def load_deployment(registry: Registry, name: str, version: str | None = None) -> Deployed:
    """The production version of ``name`` (else its newest, or ``version``), checked and loaded.

    Artifact hashes are verified and the bundle is rebuilt in a thread, so the event loop
    keeps serving the previous model meanwhile.
    """
    if version is None:
        version = (await registry.stages(name))["production"] or await registry.latest(name)
    bundle, card = await registry.load(name, version)
    policy = PolicyConfig.model_validate(card.get("policy", {}).get("config", {}))
    titles = {}
    if CATALOG in card.get("extras", {}):
        raw = json.loads(await registry.extra(name, version, CATALOG))
        titles = {int(movie): title for movie, title in raw.items()}
    trending = TrendingCounts(policy.trending_half_life_days, bundle.maps.items.raw)
    return Deployed(bundle, card, policy, titles, trending, footprint(bundle))


async def load_off_loop(open_registry: Callable[[], Registry], name: str, version: str) -> Deployed:
    """``load_deployment`` in a thread with its own event loop: reading and hashing artifacts too
    stay off the serving loop. ``open_registry`` builds the registry inside that loop."""
    with MODEL_LOAD_SECONDS.labels(name).time():
        return await asyncio.to_thread(lambda: asyncio.run(load_deployment(open_registry(), name, version)))


def settle_heap() -> None:
    """Collect what the swap left behind, then exempt every object alive now from the collector.

    A worker holds ~300k long-lived objects (Faust, torch, the model); a full collection
    over them stalls the event loop ~150 ms, which became the serving p99. Frozen, they are
    skipped by every later pass. This pause is paid once per model swap instead.
    """
    gc.collect()
    gc.freeze()


@dataclass(frozen=True)
class Arm:
    """What answers a user: the arm's name on the response, its trial, its version, its re-ranker."""

    name: str
    """``stable``, ``canary``, or an A/B arm's own name."""
    trial: str
    """The id the arm's figures are kept under (``app.rollout.state``)."""
    deployed: Deployed
    reranker: str | None = None
    """The arm's re-ranker spec (``mmr:lambda=0.3``), None for none; applied by the serving path."""


@dataclass(frozen=True)
class Routing:
    """One model's traffic as this worker serves it now: every arm, built from one rollout state."""

    model_name: str
    traffic: Traffic
    stable: Arm
    arms: dict[str, Arm]
    """Arms besides stable, by name; an arm whose version failed to load is missing (its users get stable)."""
    shadow: tuple[Shadow, Deployed] | None = None

    def arm_for(self, user_id: int) -> Arm:
        """The arm that answers ``user_id`` (sticky: a hash of the user and the trial)."""
        if self.traffic.trial is None:
            return self.stable
        chosen = assign(self.traffic, self.model_name, self.stable.deployed.version, user_id)
        return self.arms.get(chosen.arm, self.stable)

    def deployments(self) -> list[Deployed]:
        found = {self.stable.deployed.key: self.stable.deployed}
        found.update((arm.deployed.key, arm.deployed) for arm in self.arms.values())
        if self.shadow:
            found[self.shadow[1].key] = self.shadow[1]
        return list(found.values())


def build_routing(model_name: str, traffic: Traffic, stable: Deployed, loaded: dict[Version, Deployed]) -> Routing:
    """The routing of ``traffic`` over the versions in ``loaded`` (stable is ``stable``)."""
    trial = traffic.trial.trial if traffic.trial else stable_trial(model_name, stable.version)
    arms: dict[str, Arm] = {}
    if traffic.canary and (model_name, traffic.canary.model_version) in loaded:
        canary = traffic.canary
        arms["canary"] = Arm("canary", trial, loaded[(canary.model_name, canary.model_version)], canary.reranker)
    if traffic.experiment:
        for spec in traffic.experiment.arms:
            if (spec.model_name, spec.model_version) in loaded:
                arms[spec.name] = Arm(spec.name, trial, loaded[(spec.model_name, spec.model_version)], spec.reranker)
    shadow = None
    if traffic.shadow and (traffic.shadow.model_name, traffic.shadow.model_version) in loaded:
        shadow = (traffic.shadow, loaded[(traffic.shadow.model_name, traffic.shadow.model_version)])
    return Routing(model_name, traffic, Arm("stable", trial, stable), arms, shadow)


def serve_alone(deployed: Deployed, reranker: str | None = None) -> Routing:
    """A routing that answers every user from ``deployed`` (re-ranked by ``reranker``, when given)."""
    routing = build_routing(deployed.name, Traffic(stable=deployed.version), deployed, {deployed.key: deployed})
    return replace(routing, stable=replace(routing.stable, reranker=reranker)) if reranker else routing


StableResolver = Callable[[RolloutState], Awaitable[str | None]]
Loader = Callable[[str, str], Awaitable[Deployed]]


class ModelHolder:
    """The routing a worker serves now; a rollout change replaces it in one assignment."""

    def __init__(self) -> None:
        self.routing: Routing | None = None
        self.state = RolloutState()
        self.state_ready = False
        """True once the ``model-events`` written before the worker started are folded in."""
        self.loaded: dict[Version, Deployed] = {}
        self.errors: dict[Version, str] = {}
        self.last_error: str = ""

    @property
    def current(self) -> Deployed | None:
        """The stable version, or None before one is loaded."""
        return self.routing.stable.deployed if self.routing else None

    @current.setter
    def current(self, deployed: Deployed | None) -> None:
        """Serve ``deployed`` alone (tests, benchmarks)."""
        self.routing = None if deployed is None else serve_alone(deployed)

    def _adopt_trending(self, deployed: Deployed) -> Deployed:
        """Keep the live trending counts of a loaded version with the same half-life."""
        for other in self.loaded.values():
            if other.trending.half_life_days == deployed.policy.trending_half_life_days:
                return replace(deployed, trending=other.trending)
        return deployed

    def trending_counts(self) -> list[TrendingCounts]:
        """Every distinct trending counter the loaded versions use (each is fed every interaction)."""
        return list({id(d.trending): d.trending for d in self.loaded.values()}.values())

    async def preload(self, model_name: str, resolve_stable: StableResolver, load: Loader) -> None:
        """Load the version the registry alone names (no rollout state yet) without serving it.

        A starting worker must not serve before its ``model-events`` replay is over, but the
        replay is broker round trips on a loop busy with the start (seconds under load): the
        load, in its thread meanwhile, is then the next ``apply``'s if the replayed state names
        the same version, as it does unless a rollout moved stable off the registry's choice
        (then ``apply`` drops it).
        """
        try:
            stable = await resolve_stable(RolloutState())
            if stable is None or (model_name, stable) in self.loaded:
                return
            deployed = await load(model_name, stable)
        except Exception as exc:  # the registry unreachable, say: apply meets it again and reports it
            log.info("preloading %s failed, left for the rollout state: %s", model_name, exc)
            return
        self.loaded.setdefault((model_name, stable), self._adopt_trending(deployed))

    async def apply(self, model_name: str, state: RolloutState, resolve_stable: StableResolver,
                    load: Loader) -> bool:
        """Load what ``state`` names for ``model_name``'s traffic and swap the routing in.

        A version that fails to load is left out (its users get stable) and named in
        ``errors``; without a stable version the current routing stays. True when the routing
        was replaced.
        """
        stable = await resolve_stable(state)
        if stable is None:
            self.last_error = f"{model_name}: no version is registered"
            return False
        wanted = {(model_name, stable), *state.versions(model_name)}
        fresh = False
        for key in sorted(wanted - set(self.loaded)):
            try:
                deployed = await load(*key)
            except (RegistryError, ArtifactError, OSError, ValueError, KeyError) as exc:
                self.errors[key] = f"{key[0]} {key[1]}: {exc}"
                MODEL_LOAD_FAILURES.inc()
                log.warning("model load failed, serving without it: %s", self.errors[key])
                continue
            self.loaded[key] = self._adopt_trending(deployed)
            self.errors.pop(key, None)
            fresh = True
            log.info("loaded %s %s (%.1f MiB of arrays)", *key, deployed.memory_bytes / 2**20)
        if (model_name, stable) not in self.loaded:
            self.last_error = self.errors.get((model_name, stable), f"{model_name} {stable} is not loaded")
            return False
        self.loaded = {key: d for key, d in self.loaded.items() if key in wanted}
        self.errors = {key: e for key, e in self.errors.items() if key in wanted}
        self.last_error = "; ".join(self.errors.values())
        previous = self.routing
        self.routing = build_routing(model_name, state.traffic(model_name), self.loaded[(model_name, stable)],
                                     self.loaded)
        MODEL_VERSIONS_LOADED.set(len(self.loaded))
        MODEL_MEMORY_BYTES.set(sum(d.memory_bytes for d in self.loaded.values()))
        if previous is None or previous.stable.deployed.key != (model_name, stable):
            log.info("serving %s %s", model_name, stable)
        if fresh:
            settle_heap()
        return True

    def describe(self) -> str:
        if self.routing is None:
            return "no model"
        names = [f"{d.name} {d.version}" for d in self.routing.deployments()]
        return names[0] + (f" (+ {', '.join(names[1:])})" if names[1:] else "")


holder = ModelHolder()
"""This worker's deployments, shared by the recommend agent and the HTTP views."""
