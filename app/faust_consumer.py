"""The Kafka consumer of our Faust app: Faust's aiokafka consumer with a rebalance fix, fetching only what Faust reads.

Partitions Faust pauses are paused in aiokafka too. Faust only leaves a paused partition out
of what it takes from aiokafka's buffer; aiokafka goes on fetching it. After recovery that
is every active changelog partition (in the serve bench 73 of the worker's 181), so every
fetch named them all, and the first changelog rows the worker wrote itself came back in a
fetch response whose records Faust never takes: while they sit unconsumed, aiokafka holds
the broker's next fetch back for up to 100 ms (``prefetch_backoff``), requests included.
Paused in aiokafka, a partition is left out of the fetch, and records it had buffered are
dropped without moving its position, so once resumed it is fetched again from there.
That shortens each fetch, not aiokafka's walk over every assigned partition at each turn
of its fetch loop, where a paused one still costs (``bench.fetch_partitions``).

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

from typing import Any, Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.drivers import aiokafka
from faust.types import TP

from app.metrics import CONSUMER_PARTITIONS


def set_paused(consumer: AIOKafkaConsumer, paused: Iterable[TP]) -> None:
    """Pause exactly the assigned partitions among ``paused`` in ``consumer``, resume the rest.

    Runs in the consumer's own thread: aiokafka's pause state lives in its event loop.
    """
    assigned = consumer.assignment()
    wanted = {TopicPartition(tp.topic, tp.partition) for tp in paused} & assigned
    now = consumer.paused()
    consumer.pause(*(wanted - now))
    consumer.resume(*(now - wanted))
    CONSUMER_PARTITIONS.labels("paused").set(len(wanted))
    CONSUMER_PARTITIONS.labels("fetched").set(len(assigned) - len(wanted))


class Consumer(aiokafka.Consumer):
    """Faust's aiokafka consumer; seeks after a rebalance lose no message, paused partitions are not fetched."""

    def pause_partitions(self, tps: Iterable[TP]) -> None:
        super().pause_partitions(tps)
        self._mirror_pauses()

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        super().resume_partitions(tps)
        self._mirror_pauses()

    def _mirror_pauses(self) -> None:
        # The whole paused set each time, applied in order in the consumer's loop, so a
        # call that lands after a rebalance is overwritten by the next one.
        consumer = self._thread._consumer
        if consumer is not None:
            self._thread.thread_loop.call_soon_threadsafe(set_paused, consumer, frozenset(self._paused_partitions))

    def verify_event_path(self, now: float, tp: TP) -> Any:
        # A paused partition is not fetched on purpose: no "no fetch request" alarm for it.
        if tp not in self._paused_partitions:
            return super().verify_event_path(now, tp)
        return None

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
