"""``movie-recs catalog``: load a movie catalog into the ``movies`` topic, or show what it holds."""
from __future__ import annotations

import asyncio
import json

import click
from faust.cli.faust import cli

from app.catalog.loader import catalog_records, publish, read_catalog
from app.kafka_errors import kafka_errors
from app.settings import get_settings


@cli.group()
def catalog() -> None:
    """The movie catalog (titles, genres, years) every worker keeps from the movies topic."""


@catalog.command("load")
@click.argument("source")
@click.option("--seed", default=0, show_default=True, help="Seed of the synthetic catalog.")
def catalog_load(source: str, seed: int) -> None:
    """Publish the movies of SOURCE ('synthetic' or a MovieLens folder) to the movies topic."""
    from app.commands import ensure_topics

    settings = get_settings()
    records = catalog_records(source, seed)
    with kafka_errors(settings):
        asyncio.run(ensure_topics(settings))
        sent = asyncio.run(publish(settings, records))
    click.echo(f"sent {sent} movies to {settings.topic('movies')}")


@catalog.command("show")
@click.argument("movie_id", type=int, required=False)
def catalog_show(movie_id: int | None) -> None:
    """One movie as the topic holds it, or the catalog's size and content hash."""
    settings = get_settings()
    with kafka_errors(settings):
        movies, described = asyncio.run(read_catalog(settings))
    click.echo(json.dumps(movies.get(movie_id) if movie_id is not None else described))
