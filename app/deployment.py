"""The model a worker serves: loaded from the registry off the event loop, swapped whole."""
from __future__ import annotations

import gc
import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from app.registry import Registry, RegistryError
from models.bundle import ModelBundle
from models.serving import PolicyConfig
from models.trending import TrendingCounts

log = logging.getLogger(__name__)
CATALOG = "catalog.json"


@dataclass(frozen=True)
class Deployed:
    """One registered version ready to serve: model, card, tuned policy, titles, trending."""

    bundle: ModelBundle
    card: dict[str, Any]
    policy: PolicyConfig
    titles: dict[int, str]
    trending: TrendingCounts = field(compare=False)

    @property
    def name(self) -> str:
        return self.card["model_name"]

    @property
    def version(self) -> str:
        return self.card["version"]


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
    return Deployed(bundle, card, policy, titles, trending)


def settle_heap() -> None:
    """Collect what the swap left behind, then exempt every object alive now from the collector.

    A worker holds ~300k long-lived objects (Faust, torch, the model); a full collection
    over them stalls the event loop ~150 ms, which became the serving p99. Frozen, they are
    skipped by every later pass. This pause is paid once per model swap instead.
    """
    gc.collect()
    gc.freeze()


class ModelHolder:
    """The deployment a worker serves now; a swap replaces it in one assignment."""

    def __init__(self) -> None:
        self.current: Deployed | None = None
        self.last_error: str = ""

    async def deploy(self, registry: Registry, name: str, version: str | None = None) -> Deployed | None:
        """Load and swap in a version; on failure keep serving the current one and say why."""
        try:
            deployed = await load_deployment(registry, name, version)
        except (RegistryError, OSError, ValueError) as exc:
            self.last_error = f"{name} {version or 'newest'}: {exc}"
            log.warning("model load failed, keeping %s: %s", self.describe(), self.last_error)
            return None
        previous = self.current
        if previous is not None and previous.trending.half_life_days == deployed.policy.trending_half_life_days:
            deployed = replace(deployed, trending=previous.trending)  # keep the live counts
        self.current, self.last_error = deployed, ""
        log.info("serving %s %s", deployed.name, deployed.version)
        settle_heap()
        return deployed

    def describe(self) -> str:
        return f"{self.current.name} {self.current.version}" if self.current else "no model"


holder = ModelHolder()
"""This worker's deployment, shared by the recommend agent and the HTTP views."""
