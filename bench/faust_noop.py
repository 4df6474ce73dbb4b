"""A Faust worker whose agents take the watch and rate events in batches and only count them.

It is what the Faust machinery alone costs per event on this machine: the same consumer,
conductor, stream and ``take_events`` path (batch size and wait from the settings) as the
ingest agents, with no decoding, no tables and nothing produced. ``bench.ingest --faust-noop``
runs it on the pre-loaded topics and reads its count from ``/metrics`` as it reads the
worker's. Run alone: ``python -m bench.faust_noop worker -l info`` with the MOVIE_RECS_* env.
"""
from __future__ import annotations

from typing import Any

import faust
from faust import web

from app.settings import get_settings

settings = get_settings()
app = faust.App(
    settings.app_id, broker=settings.broker_url, datadir=settings.data_dir,
    key_serializer="raw", value_serializer="raw", consumer_auto_offset_reset="earliest",
    web_host=settings.web_host, web_port=settings.web_port, autodiscover=False)
counted = dict.fromkeys(("watch", "rate"), 0)


def sources(name: str) -> Any:
    """The client topic and its reroute twin, as the ingest agents read them."""
    return app.topic(settings.topic(name), settings.topic(f"{name}-rerouted"),
                     partitions=settings.partitions)


async def count(name: str, stream: Any) -> None:
    async for batch in stream.take_events(settings.batch_size, within=settings.batch_within_s):
        counted[name] += len(batch)


@app.agent(sources("watch"))
async def take_watch(stream: Any) -> None:
    await count("watch", stream)


@app.agent(sources("rate"))
async def take_rate(stream: Any) -> None:
    await count("rate", stream)


@app.page("/metrics")
class Metrics(web.View):
    """The count in the worker's metric name, so the bench reads both the same way."""

    async def get(self, request: web.Request) -> web.Response:
        lines = [f'movierecs_events_ingested_total{{topic="{name}"}} {n}.0' for name, n in counted.items()]
        return self.text("\n".join(lines) + "\n")


if __name__ == "__main__":
    app.main()
