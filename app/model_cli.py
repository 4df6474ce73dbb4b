"""``movie-recs train``, ``evaluate`` and ``registry``: models from data to production."""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import click
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faust.cli import option
from faust.cli.faust import cli

from app.console import async_command
from app.schema_registry import codec_for
from app.kafka_security import client_kwargs
from app.provenance import dataset_id, file_digest, git_sha
from app.registry import Registry, RegistryError
from app.settings import Settings, get_settings
from app.storage import open_store

QUARANTINE_READ_TIMEOUT_S = 60.0
METRIC_KEYS = ("hr@10", "ndcg@10", "coverage@10", "gini@10", "tail_share@10")


def open_registry(settings: Settings) -> Registry:
    return Registry(open_store(settings.registry, settings))


@dataclass
class TrainingData:
    """What a training run reads: interactions, titles, and the manifest that identifies them."""

    frame: Any
    titles: dict[int, str]
    manifest: dict[str, Any]

    @property
    def snapshot_id(self) -> str:
        return self.manifest["snapshot_id"]


async def load_training_data(settings: Settings, source: str, since: str | None,
                             until: str | None, excluded_users: frozenset[int] = frozenset()) -> TrainingData:
    """A MovieLens folder, synthetic data, or (no source) the event snapshots in a range.

    ``excluded_users`` (quarantined accounts) contribute nothing from the snapshots.
    """
    if source == "synthetic":
        from models.data.synthetic import generate

        frame, catalog = generate()
        described = {"generator": "models.data.synthetic.generate", "seed": 0}
        return TrainingData(frame, _titles(catalog), {**described, "snapshot_id": dataset_id(described)})
    if source:
        from models.data.movielens import find_catalog_file, find_ratings_file, load_catalog, load_interactions

        path = Path(source)
        ratings = find_ratings_file(path) if path.is_dir() else path
        files = [{"file": ratings.name, "sha256": file_digest(ratings)}]
        frame = load_interactions(ratings)
        files[0]["rows"] = len(frame)
        described = {"source": str(path), "files": files}
        titles = _titles(load_catalog(find_catalog_file(path))) if path.is_dir() else {}
        return TrainingData(frame, titles, {**described, "snapshot_id": dataset_id(described)})
    from app.snapshots import SnapshotRange, read_snapshot
    from app.spam.quarantine import quarantined_users
    from models.data.snapshots import interactions_from_events

    span = SnapshotRange(since=datetime.fromisoformat(since) if since else None,
                         until=datetime.fromisoformat(until) if until else None)
    snapshot = await read_snapshot(open_store(settings.snapshots, settings), span)
    if not snapshot.manifest.files:
        raise click.ClickException(
            f"no snapshot files in {settings.snapshots} between {since or 'the start'} and {until or 'now'}: "
            "snapshots are written by a running worker (`movie-recs worker`) from the events it ingests; "
            "see `movie-recs snapshots list`, or train on `--data synthetic` or a MovieLens folder")
    try:  # spam accounts in quarantine teach the model nothing, so no quarantine list, no training
        excluded = excluded_users | await asyncio.wait_for(quarantined_users(settings),
                                                           QUARANTINE_READ_TIMEOUT_S)
    except (KafkaError, OSError, asyncio.TimeoutError) as exc:
        raise click.ClickException(f"cannot read the spam quarantine from {settings.topic('user-flags')} "
                                   f"at {settings.kafka_bootstrap}: {exc!r}") from exc
    frame = interactions_from_events(*(within(snapshot.frame(t), span) for t in ("watch", "rate")),
                                     excluded_users=excluded)
    movies, catalog = await snapshot_catalog(settings)
    manifest = {**json.loads(snapshot.manifest.to_json()), "catalog": catalog}
    if excluded:  # the same files minus other users are other training data: another id
        manifest["excluded_users"] = sorted(excluded)
        manifest["snapshot_id"] = dataset_id({"snapshot_id": manifest["snapshot_id"],
                                              "excluded_users": manifest["excluded_users"]})
    return TrainingData(frame, {m: movie["title"] for m, movie in movies.items()}, manifest)


def within(events: Any, span: Any) -> Any:
    """The events whose time lies in the range: files are hour-grained, compacted ones span many hours."""
    if span.since is not None:
        events = events[events["ts"] >= int(span.since.timestamp() * 1000)]
    if span.until is not None:
        events = events[events["ts"] < int(span.until.timestamp() * 1000)]
    return events


async def snapshot_catalog(settings: Settings) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    """The catalog from the movies topic for a run on snapshots; none (and why) if Kafka is down."""
    from app.catalog.loader import read_catalog

    try:
        return await asyncio.wait_for(read_catalog(settings), 60)
    except (OSError, asyncio.TimeoutError, KafkaError) as exc:
        click.echo(f"warning: no catalog from Kafka ({exc!r}); titles come from the live catalog table", err=True)
        return {}, {"error": repr(exc)}


def _titles(catalog: Any) -> dict[int, str]:
    return dict(zip(catalog["movie_id"].astype(int).tolist(), catalog["title"].astype(str).tolist()))


async def publish_model_event(settings: Settings, action: str, name: str, version: str, reason: str,
                              **fields: Any) -> None:
    """Tell every worker about a deployment decision on ``model-events``.

    ``fields`` are the event's other fields (``percent``, ``experiment``, ``params``, ...).
    """
    producer = AIOKafkaProducer(**client_kwargs(settings), request_timeout_ms=10_000)
    await asyncio.wait_for(producer.start(), 15)
    try:
        value = codec_for("ModelEvent", settings.topic("model-events")).encode({
            "ts": int(time.time() * 1000), "action": action, "model_name": name,
            "model_version": version, "percent": 100, "reason": reason, "actor": "cli", **fields})
        await producer.send_and_wait(settings.topic("model-events"), value, key=name.encode())
    finally:
        await producer.stop()


@async_command(
    option("--model", "model", default="all", show_default=True,
           type=click.Choice(["popularity", "itemcf", "als", "ncf", "all"])),
    option("--data", "source", default="", help="A MovieLens folder or 'synthetic'; default: the snapshots."),
    option("--since", default=None, help="Snapshots from this hour (ISO time, UTC)."),
    option("--until", default=None, help="Snapshots up to this hour (ISO time, UTC)."),
    option("--tune/--no-tune", default=True, show_default=True, help="Tune on the validation item."),
    option("--epochs", default=None, type=int, help="Fix NCF's epochs (a quick run)."),
    option("--tune-serving/--no-tune-serving", default=True, show_default=True,
           help="Choose the trending half-life and fold-in blend on validation data."),
)
async def train(model: str, source: str, since: str | None, until: str | None,
                tune: bool, epochs: int | None, tune_serving: bool) -> None:
    """Train, evaluate and register models; the card records the code and data they came from."""
    await train_and_register(get_settings(), model, source, since, until, tune=tune, epochs=epochs,
                             tune_serving=tune_serving)


async def train_and_register(settings: Settings, model: str, source: str, since: str | None, until: str | None,
                             *, tune: bool = True, epochs: int | None = None, tune_serving: bool = True,
                             excluded_users: frozenset[int] = frozenset(),
                             say: Callable[[str], Any] = click.echo) -> dict[str, str]:
    """What ``movie-recs train`` does (also for scheduled retraining): the versions registered, by model."""
    from models.baselines import baseline_metrics
    from models.evaluation import leave_last_split
    from models.factory import MODEL_NAMES
    from models.serving import tune_policy
    from models.training import train as fit

    data = await load_training_data(settings, source, since, until, excluded_users)
    registry, sha = open_registry(settings), git_sha()
    extras = {"catalog.json": json.dumps(data.titles).encode(),
              "data_manifest.json": json.dumps(data.manifest, indent=2).encode()}
    split = await asyncio.to_thread(leave_last_split, data.frame)  # one split: every number below is on it
    versions = {}
    for name in MODEL_NAMES if model == "all" else (model,):
        result = await asyncio.to_thread(fit, name, data.frame, tune=tune, epochs=epochs, refit_all=True,
                                         split=split)
        production = (await registry.stages(name))["production"]
        production_card = await registry.card(name, production) if production else None
        baselines = await asyncio.to_thread(baseline_metrics, name, data.frame, split, production_card)
        card = {**result.model_card(), "git_sha": sha, "data_snapshot_id": data.snapshot_id, "baselines": baselines}
        if tune_serving and name != "ncf":  # NCF's fold-in makes this a two-minute job
            tuning = await asyncio.to_thread(tune_policy, data.frame, name, 0, params=result.params)
            card["policy"] = tuning.card()
        version = versions[name] = await registry.register(result.bundle, card, extras)
        await announce(settings, "register", name, version, f"trained on {data.snapshot_id[:12]}")
        full = next(r for r in result.metrics if r["protocol"] == "full")
        say(f"{name} {version}: HR@10 {full['hr@10']:.4f} NDCG@10 {full['ndcg@10']:.4f} "
            f"({result.training_seconds:.1f}s)")
    return versions


@async_command(
    option("--json", "as_json", is_flag=True, default=False, help="One JSON object per model and protocol."),
    option("--all-versions", is_flag=True, default=False, help="Every version, not only the newest."),
    option("--protocol", default="leave-last-out", show_default=True,
           type=click.Choice(["leave-last-out", "temporal", "cold-start"]),
           help="leave-last-out: the registered models' cards; temporal / cold-start: trained before "
                "the test cut (80th percentile of time) on --data, served policy beside baselines."),
    option("--data", "source", default="", help="For temporal / cold-start: a MovieLens folder or 'synthetic'; "
                                                "default: the snapshots."),
    option("--models", "models", default="als,itemcf", show_default=True,
           help="For temporal / cold-start: comma-separated; the first is the served one."),
    option("--tune/--no-tune", default=True, show_default=True, help="Tune the models on validation."),
)
async def evaluate(as_json: bool, all_versions: bool, protocol: str, source: str, models: str,
                   tune: bool) -> None:
    """Offline metrics, each protocol measured by one code path (docs/evaluation.md)."""
    if protocol != "leave-last-out":
        from models.serving.report import report

        data = await load_training_data(get_settings(), source, None, None)
        found = await asyncio.to_thread(report, data.frame, [protocol], models.split(","), tune=tune)
        _print_rows([_flat(r) for r in found["rows"]], as_json,
                    ["protocol", "population", "n", "ranker", "users", *PROTOCOL_KEYS])
        return
    registry = open_registry(get_settings())
    rows = []
    for name in await registry.models():
        versions = await registry.versions(name) if all_versions else [await registry.latest(name)]
        for version in versions:
            card = await registry.card(name, version)
            rows += [{"model": name, "version": version, "protocol": m["protocol"],
                      **{k: m[k] for k in (*METRIC_KEYS, *CI_KEYS) if k in m}} for m in card["metrics"]]
    _print_rows(rows, as_json, ["model", "version", "protocol", *METRIC_KEYS])


PROTOCOL_KEYS = ("hr@10", "recall@10", "ndcg@10", "ndcg@10_ci", "vs_most_popular.ndcg@10",
                 "vs_most_popular.ndcg@10_ci")
CI_KEYS = ("hr@10_ci", "ndcg@10_ci")


def _flat(row: dict) -> dict:
    """A protocol row with its paired difference against most-popular as ``vs_most_popular.<key>``."""
    flat = {k: v for k, v in row.items() if not k.startswith("vs_")}
    for key, value in (row.get("vs_most_popular") or {}).items():
        flat[f"vs_most_popular.{key}"] = value
    return flat


def _print_rows(rows: list[dict], as_json: bool, header: list[str]) -> None:
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        if isinstance(value, list):
            return "[" + ", ".join(f"{v:.3f}" for v in value) + "]"
        return "" if value is None else str(value)

    table = [[cell(row.get(h)) for h in header] for row in rows]
    widths = [max(len(c) for c in column) for column in zip(header, *table)]
    for line in [header, *table]:
        click.echo("  ".join(c.rjust(w) for c, w in zip(line, widths)))


@cli.group()
def registry() -> None:
    """Registered model versions: list, show, promote, roll back."""


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from None


@registry.command("list")
def registry_list() -> None:
    """Every model's versions, newest last, with test NDCG@10 and the production marker."""
    async def listing() -> None:
        reg = open_registry(get_settings())
        for name in await reg.models():
            production = (await reg.stages(name))["production"]
            for version in await reg.versions(name):
                card = await reg.card(name, version)
                ndcg = next(m["ndcg@10"] for m in card["metrics"] if m["protocol"] == "full")
                marker = "  (production)" if version == production else ""
                click.echo(f"{name:<11} {version}  ndcg@10 {ndcg:.4f}  git {card['git_sha'][:12]}{marker}")
    _run(listing())


@registry.command("show")
@click.argument("name")
@click.argument("version", required=False)
def registry_show(name: str, version: str | None) -> None:
    """A version's model card (default: the newest)."""
    click.echo(json.dumps(_run(open_registry(get_settings()).card(name, version)), indent=2))


@registry.command("promote")
@click.argument("name")
@click.argument("version")
@click.option("--force", "force_reason", default="", help="Skip the quality gate, giving the reason.")
def registry_promote(name: str, version: str, force_reason: str) -> None:
    """Make a version production if the quality gate allows, and tell the workers."""
    settings = get_settings()
    stages = _run(open_registry(settings).promote(
        name, version, max_regression=settings.promote_max_regression, force_reason=force_reason))
    reason = stages["history"][-1]["reason"]
    click.echo(f"{name} {version} is production: {reason}")
    _announce(settings, "promote", name, version, reason)


@registry.command("rollback")
@click.argument("name")
@click.option("--reason", default="manual rollback", show_default=True)
def registry_rollback(name: str, reason: str) -> None:
    """Return production to the version the current one replaced."""
    settings = get_settings()
    stages = _run(open_registry(settings).rollback(name, reason))
    click.echo(f"{name} rolled back to {stages['production']}")
    _announce(settings, "rollback", name, stages["production"], reason)


async def announce(settings: Settings, action: str, name: str, version: str, reason: str) -> None:
    """Publish a model event; the registry has changed already, so a Kafka failure only warns."""
    try:
        await publish_model_event(settings, action, name, version, reason)
    except Exception as exc:  # workers pick the registry's state up when they (re)start
        click.echo(f"warning: could not publish the {action} on model-events: {exc!r}", err=True)


def _announce(settings: Settings, action: str, name: str, version: str, reason: str) -> None:
    asyncio.run(announce(settings, action, name, version, reason))
