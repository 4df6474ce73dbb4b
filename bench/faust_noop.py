"""A Faust worker whose one agent takes the watch and rate events in batches and only counts them.

It is what the Faust machinery alone costs per event on this machine: the same consumer,
conductor, stream and ``take_events`` path (batch size and wait from the settings) as the
ingest agent, with no decoding, no tables and nothing produced. ``bench.ingest --faust-noop``
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
counted = 0
# Both client topics and their reroute twins, as the ingest agent reads them.
sources = app.topic(*(settings.topic(name) for name in ("watch", "watch-rerouted", "rate", "rate-rerouted")),
                    partitions=settings.partitions)


@app.agent(sources)
async def take_events(stream: Any) -> None:
    global counted
    async for batch in stream.take_events(settings.batch_size, within=settings.batch_within_s):
        counted += len(batch)


@app.page("/metrics")
class Metrics(web.View):
    """The count in the worker's metric name, so the bench reads both the same way."""

    async def get(self, request: web.Request) -> web.Response:
        return self.text(f'movierecs_events_ingested_total{{topic="all"}} {counted}.0\n')


if __name__ == "__main__":
    app.main()
