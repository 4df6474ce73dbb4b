"""``movie-recs report fairness``: the fairness of what was served, from the ``reco-responses`` topic.

Responses are read straight from Kafka (no consumer group, nothing committed), from the
offsets of ``--since`` up to the end the topic had when the command started. The popularity
tiers come from the training interactions of the model version that served most of them.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
import numpy as np
from faust.cli.faust import cli

from app.registry import Registry, RegistryError
from app.schema_registry import codec_for
from app.settings import Settings, get_settings
from app.storage import open_store
from app.topic_reader import read_to_end
from app.exceptions import BadEvent
from models.fairness import Catalog
from models.fairness.report import build_report, served, write_report

READ_TIMEOUT_S = 600.0
"""A report reads every response since ``--since``: give it minutes, not forever."""


def epoch_ms(text: str | None) -> int | None:
    """An ISO time (UTC when it names no zone) as epoch ms."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO time such as 2026-12-01T20:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


async def read_responses(settings: Settings, since_ms: int | None) -> tuple[list[dict[str, Any]], int]:
    """Decoded responses from ``since_ms`` to the end offsets at the start; and how many were undecodable."""
    topic = settings.topic("reco-responses")
    codec = codec_for("RecoResponse", topic)
    read = await read_to_end(settings, topic, READ_TIMEOUT_S, since_ms=since_ms)
    if not read.ends:
        raise click.ClickException(f"topic {topic} does not exist")
    responses, bad = [], 0
    for record in read.records:
        try:
            responses.append(codec.decode(record.value))
        except BadEvent:
            bad += 1
    return responses, bad


async def serving_catalog(settings: Settings, responses: list[dict[str, Any]], model: str | None,
                          version: str | None) -> tuple[Catalog, str]:
    """The catalog and training popularity of the named model, else of the version that served most."""
    registry = Registry(open_store(settings.registry, settings))
    if model is None:
        common = Counter((r["model_name"], r["model_version"]) for r in responses if r["model_name"])
        model, version = common.most_common(1)[0][0] if common else (settings.serve_model, None)
    try:
        bundle, card = await registry.load(model, version)
    except RegistryError as exc:
        raise click.ClickException(f"no model to take the popularity tiers from: {exc}") from None
    popularity = np.asarray(bundle.model.popularity, dtype=np.float64)
    return Catalog(np.asarray(bundle.maps.items.raw, dtype=np.int64), popularity), f"{model} {card['version']}"


@cli.group()
def report() -> None:
    """Reports over what the system served."""


@report.command("fairness")
@click.option("--since", default=None, help="Responses from this time (ISO, UTC).")
@click.option("--until", default=None, help="Responses before this time (ISO, UTC).")
@click.option("--arm", default=None, help="Only this arm (default: every arm, also reported one by one).")
@click.option("--model", default=None, help="Model whose training popularity defines the tiers (default: "
              "the version that served most responses).")
@click.option("--version", default=None, help="Version of --model (default: production, else newest).")
@click.option("--bucket-minutes", default=60, show_default=True, help="Width of the starvation-over-time buckets.")
@click.option("--out", default="./reports/fairness", show_default=True, help="Folder for the JSON, Markdown and PNGs.")
def report_fairness(since: str | None, until: str | None, arm: str | None, model: str | None, version: str | None,
                    bucket_minutes: int, out: str) -> None:
    """Exposure Gini over the whole catalog, coverage, starvation, tail share and tier amplification."""
    settings = get_settings()
    since_ms, until_ms = epoch_ms(since), epoch_ms(until)
    responses, bad = asyncio.run(read_responses(settings, since_ms))
    kept = served(responses, since_ms, until_ms, arm)
    catalog, model_label = asyncio.run(serving_catalog(settings, kept, model, version))
    context = {"arm": arm, "since": since, "until": until, "model": model_label, "undecodable": bad}
    paths = write_report(build_report(kept, catalog, bucket_minutes * 60_000, context), Path(out))
    click.echo(f"{len(kept)} served lists ({bad} undecodable records skipped): "
               + ", ".join(str(p) for p in paths.values()))
