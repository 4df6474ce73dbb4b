"""The model registry: versions of each model with their artifacts and model card.

Layout (DESIGN §5): ``<root>/<model_name>/<version>/`` holds the bundle's files and
``model_card.json`` (params, metrics, git SHA, data_snapshot_id, dataset stats, training
seconds, created_at, and the SHA-256 of every artifact, checked on load).
``<root>/<model_name>/stages.json`` records which version is in production and why.
The root is any ``app.storage`` store, so the registry lives on disk or S3 alike.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.storage import KeyNotFound, Store
from models.bundle import ModelBundle

CARD = "model_card.json"
STAGES = "stages.json"


class RegistryError(Exception):
    """A registry operation that cannot be done; the message says why."""


class ArtifactMismatch(RegistryError):
    """An artifact's content does not match the hash its model card recorded."""


class GateRefused(RegistryError):
    """The quality gate refuses a promotion; the message gives the numbers."""


def new_version(card: dict[str, Any]) -> str:
    """A version id that sorts by creation time and names its content (artifacts and card)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(card["created_at"]))
    content = hashlib.sha256(json.dumps(card, sort_keys=True, default=str).encode()).hexdigest()
    return f"{stamp}-{content[:8]}"


def metric(card: dict[str, Any], key: str = "ndcg@10", protocol: str = "full") -> float:
    """One test metric of a model card."""
    for row in card["metrics"]:
        if row["protocol"] == protocol:
            return float(row[key])
    raise RegistryError(f"{card['model_name']} {card.get('version')}: no {protocol} {key} in its card")


@dataclass
class Registry:
    """Register, list, load and stage model versions in a store."""

    store: Store

    async def register(self, bundle: ModelBundle, card: dict[str, Any],
                       extras: dict[str, bytes] | None = None) -> str:
        """Save ``bundle`` with ``card`` (completed with hashes) as a new version.

        ``extras`` are files served beside the model (the catalog's titles), hashed like the
        artifacts but not part of the bundle.
        """
        files = await asyncio.to_thread(_bundle_files, bundle)
        extras = extras or {}
        card = {**card, "created_at": card.get("created_at", time.time()),
                "artifacts": {name: _sha256(data) for name, data in files.items()},
                "extras": {name: _sha256(data) for name, data in extras.items()}}
        version = new_version(card)
        card["version"] = version
        prefix = f"{bundle.name}/{version}/"
        for name, data in {**files, **extras}.items():
            await self.store.put(prefix + name, data)
        await self.store.put(prefix + CARD, json.dumps(card, indent=2, sort_keys=True).encode())
        return version

    async def models(self) -> list[str]:
        """Names of the models with at least one version."""
        return sorted({obj.key.split("/")[0] for obj in await self.store.list() if obj.key.endswith("/" + CARD)})

    async def versions(self, name: str) -> list[str]:
        """Versions of ``name``, oldest first."""
        return sorted(obj.key.split("/")[1] for obj in await self.store.list(f"{name}/")
                      if obj.key.endswith("/" + CARD))

    async def card(self, name: str, version: str | None = None) -> dict[str, Any]:
        """The model card of ``version`` (default: the newest)."""
        version = version or await self.latest(name)
        try:
            return json.loads(await self.store.get(f"{name}/{version}/{CARD}"))
        except KeyNotFound:
            raise RegistryError(f"no version {version} of model {name}") from None

    async def latest(self, name: str) -> str:
        versions = await self.versions(name)
        if not versions:
            raise RegistryError(f"model {name} has no registered version")
        return versions[-1]

    async def load(self, name: str, version: str | None = None) -> tuple[ModelBundle, dict[str, Any]]:
        """The bundle and card of a version, after checking every artifact's SHA-256."""
        card = await self.card(name, version)
        files = {artifact: await self._verified(card, artifact, expected)
                 for artifact, expected in card["artifacts"].items()}
        return await asyncio.to_thread(_load_bundle, files), card

    async def extra(self, name: str, version: str, filename: str) -> bytes:
        """An extra file of a version, after checking its SHA-256."""
        card = await self.card(name, version)
        if filename not in card.get("extras", {}):
            raise RegistryError(f"{name} {version} has no {filename}")
        return await self._verified(card, filename, card["extras"][filename])

    async def _verified(self, card: dict[str, Any], filename: str, expected: str) -> bytes:
        data = await self.store.get(f"{card['model_name']}/{card['version']}/{filename}")
        if _sha256(data) != expected:
            raise ArtifactMismatch(f"{card['model_name']} {card['version']}: {filename} does not match its recorded SHA-256")
        return data

    async def stages(self, name: str) -> dict[str, Any]:
        """``{"production": version | None, "history": [...]}`` of ``name``."""
        try:
            return json.loads(await self.store.get(f"{name}/{STAGES}"))
        except KeyNotFound:
            return {"production": None, "history": []}

    async def _set_production(self, name: str, version: str | None, action: str, reason: str) -> dict:
        stages = await self.stages(name)
        stages["history"].append({"ts": time.time(), "action": action, "version": version,
                                  "previous": stages["production"], "reason": reason})
        stages["production"] = version
        await self.store.put(f"{name}/{STAGES}", json.dumps(stages, indent=2).encode())
        return stages

    async def check_gate(self, name: str, version: str, max_regression: float) -> str:
        """Why ``version`` may be promoted; ``GateRefused`` with the numbers if it may not.

        A model must beat the most-popular baseline and must not lose more than
        ``max_regression`` NDCG@10 (absolute, full ranking) against the production version.
        Both are taken from the candidate's card, where training measured them on the
        candidate's own split (``models.baselines``); only a card without them falls back
        to other cards' numbers, which may come from other data.
        """
        card = await self.card(name, version)
        if "baselines" in card:
            return await self._check_like_with_like(name, version, card, max_regression)
        ndcg = metric(card)
        reasons = []
        if name != "popularity" and "popularity" in await self.models():
            baseline = metric(await self.card("popularity"))
            if ndcg <= baseline:
                raise GateRefused(f"{name} {version}: NDCG@10 {ndcg:.4f} is not above most-popular's {baseline:.4f}")
            reasons.append(f"NDCG@10 {ndcg:.4f} > most-popular {baseline:.4f}")
        production = (await self.stages(name))["production"]
        if production and production != version:
            current = metric(await self.card(name, production))
            if ndcg < current - max_regression:
                raise GateRefused(f"{name} {version}: NDCG@10 {ndcg:.4f} regresses production {production} "
                                  f"({current:.4f}) by more than {max_regression}")
            reasons.append(f"NDCG@10 {ndcg:.4f} vs production {current:.4f} (margin {max_regression})")
        return "; ".join(reasons) or "first version"

    async def _check_like_with_like(self, name: str, version: str, card: dict[str, Any],
                                    max_regression: float) -> str:
        ndcg, baselines = metric(card), card["baselines"]
        reasons = []
        popular = baselines.get("popularity")
        if popular is not None:
            if ndcg <= popular["ndcg@10"]:
                raise GateRefused(f"{name} {version}: NDCG@10 {ndcg:.4f} is not above most-popular's "
                                  f"{popular['ndcg@10']:.4f} on the same split")
            reasons.append(f"NDCG@10 {ndcg:.4f} > most-popular {popular['ndcg@10']:.4f} (same split)")
        production = (await self.stages(name))["production"]
        if production and production != version:
            measured = baselines.get("production")
            if measured is None or measured["version"] != production:
                raise GateRefused(f"{name} {version} was not compared with production {production} on its data "
                                  f"(production changed after it was trained): train it again, or --force")
            current = measured["ndcg@10"]
            if ndcg < current - max_regression:
                raise GateRefused(f"{name} {version}: NDCG@10 {ndcg:.4f} regresses production {production} "
                                  f"({current:.4f} refitted on the same split) by more than {max_regression}")
            reasons.append(f"NDCG@10 {ndcg:.4f} vs production {production} {current:.4f} "
                           f"(same split, margin {max_regression})")
        return "; ".join(reasons) or "first version"

    async def promote(self, name: str, version: str, *, max_regression: float, force_reason: str = "") -> dict:
        """Make ``version`` production if the gate allows it (or ``force_reason`` is given)."""
        await self.card(name, version)
        reason = force_reason or await self.check_gate(name, version, max_regression)
        return await self._set_production(name, version, "promote", reason)

    async def rollback(self, name: str, reason: str = "manual rollback") -> dict:
        """Return production to the version that the current one replaced when promoted."""
        stages = await self.stages(name)
        current = stages["production"]
        promotions = [h for h in stages["history"] if h["action"] == "promote" and h["version"] == current]
        previous = promotions[-1]["previous"] if promotions else None
        if previous is None:
            raise RegistryError(f"model {name} has no earlier production version to roll back to")
        return await self._set_production(name, previous, "rollback", reason)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _bundle_files(bundle: ModelBundle) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        bundle.save(Path(tmp))
        return {p.name: p.read_bytes() for p in sorted(Path(tmp).iterdir()) if p.is_file()}


def _load_bundle(files: dict[str, bytes]) -> ModelBundle:
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        return ModelBundle.load(Path(tmp))
