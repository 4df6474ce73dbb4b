"""``movie-recs catalog``: load a movie catalog into the ``movies`` topic, or show what it holds."""
from __future__ import annotations

import json

import click
from faust.cli.faust import cli

from app.catalog.loader import catalog_records, publish, read_catalog
from app.console import run
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
    run(ensure_topics(settings))
    sent = run(publish(settings, records))
    click.echo(f"sent {sent} movies to {settings.topic('movies')}")


@catalog.command("show")
@click.argument("movie_id", type=int, required=False)
def catalog_show(movie_id: int | None) -> None:
    """One movie as the topic holds it, or the catalog's size and content hash."""
    settings = get_settings()
    movies, described = run(read_catalog(settings))
    click.echo(json.dumps(movies.get(movie_id) if movie_id is not None else described))
