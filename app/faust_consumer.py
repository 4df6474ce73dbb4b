"""The Kafka consumer of our Faust app: Faust's aiokafka consumer with a rebalance fix.

During a rebalance Faust drops messages it has already fetched: records of partitions paused
for the rebalance, and everything in the stream queues, which ``flow_control.resume()``
empties. It relies on ``perform_seek()`` (seek to the committed offsets) at the end of table
recovery to fetch them again. In faust-streaming 0.15.3 that fails in two ways (upstream
issue faust-streaming/faust#596 reports a race in the same code):

- ``Recovery.on_recovery_completed`` resumes the stream partitions, awaits the seek while the
  fetcher runs, and only then empties the queues: messages delivered after their partition's
  seek are thrown away although the position is past them. They are never fetched again, or
  Faust's gap bookkeeping counts them as done and commits past them.
- ``seek_to_committed`` only seeks partitions that have a committed offset. One with none
  (a new topic, such as our reroute topics) keeps a position past what was dropped.

Either way the user table lost events; and a dropped message seen again only at a later
rebalance, after later offsets of its origin had been applied, was skipped as a replay.

Here the flow stops before the seek, so nothing reaches the queues between the seek and
Faust emptying them (every caller resumes the flow itself: recovery right after emptying the
queues, and ``getmany`` calls ``perform_seek`` only while the flow is stopped), and
partitions with no committed offset go back to their first offset, which is what
``consumer_auto_offset_reset="earliest"`` means. Messages fetched again are applied once:
the user state keeps the last applied offset of each origin. Written against
faust-streaming 0.15.3; check it again when upgrading Faust.
"""
from __future__ import annotations

from typing import Mapping

from faust.transport.drivers import aiokafka
from faust.types import TP


class Consumer(aiokafka.Consumer):
    """Faust's aiokafka consumer; seeks after a rebalance lose no message."""

    async def perform_seek(self) -> None:
        self.stop_flow()
        await super().perform_seek()

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed = await super().seek_to_committed()
        if self.app.conf.consumer_auto_offset_reset == "earliest":
            never_committed = [tp for tp, offset in committed.items()
                               if not offset and not self._is_changelog_tp(tp)]
            if never_committed:
                # Seek to explicit offsets: a reset by policy would leave the positions unknown
                # for a moment, which Faust's livelock check does not survive.
                await self.seek_wait(await self.earliest_offsets(*never_committed))
        return committed
