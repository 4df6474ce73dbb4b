"""A worker's place in the group: static membership options, and what it owns for /health.

Static membership (KIP-345) is what lets a restarted worker resume at once: it rejoins
under the same ``group.instance.id``, the broker hands it back its old assignment and the
others never rebalance. A worker that joins under a fresh id instead waits until the dead
member's session expires, the ~110 s pause issue #13 saw. The price: a worker that stops
for good, cleanly or not, holds its partitions for one session timeout (aiokafka sends no
LeaveGroup for a static member), so the session timeout is short.

A rebalance that comes during a table recovery is ``RebalanceRecovery``'s (Faust's crashed).

Faust falls back to aiokafka's round-robin assignor when an app has no standby replicas and
no changelog tables (faust-streaming PR 658); round robin knows nothing of standbys or
co-partitioned tables. ``uses_faust_assignor`` states the condition our app relies on.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import faust
from faust.tables import TableManager
from faust.tables.recovery import RebalanceAgain, Recovery
from faust.types import TP
from faust.types.transports import ConsumerT

from app.metrics import PARTITIONS_OWNED, STANDBY_PARTITIONS
from app.settings import Settings


def membership_options(settings: Settings, instance_id: str) -> dict[str, Any]:
    """Faust settings for the group: static member ``instance_id``, session and heartbeat."""
    return {
        "consumer_group_instance_id": instance_id if settings.static_membership else None,
        "broker_session_timeout": settings.session_timeout_s,
        "broker_heartbeat_interval": min(settings.heartbeat_interval_s, settings.session_timeout_s / 3),
    }


class RebalanceRecovery(Recovery):
    """Faust's recovery, which gives way to a newer assignment before seeking, instead of crashing.

    A rebalance during a recovery refills the recovery's partition sets and offsets in place
    (a newly assigned partition's start offset is None until the next recovery builds it),
    and Faust's running recovery could go on to seek with them: ``seek(tp, None)`` raised
    "Offset must be a positive integer" and the worker died, seen when workers started or
    joined together. The newer assignment has signalled its own recovery by then, so the
    stale one stops (``RebalanceAgain``, which Faust's loop takes as "start over").
    """

    async def _seek_offsets(self, consumer: ConsumerT, tps: set[TP], offsets: Any, title: str) -> None:
        if self.signal_recovery_start.is_set():
            raise RebalanceAgain()
        await super()._seek_offsets(consumer, tps, offsets, title)


class PromptTableManager(TableManager):
    """Faust's table manager without the second it sleeps before subscribing to the changelogs,
    and with ``RebalanceRecovery``.

    That second lets code add tables late; ours are all defined when autodiscovery imports
    them, before any service starts, and every start (a restart's rejoin within the session
    timeout above all) waited on it before joining the group.
    """

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = RebalanceRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


def uses_faust_assignor(app: faust.App) -> bool:
    """Whether Faust's own assignor (standbys, co-partitioning) assigns this app's partitions.

    The condition of ``faust.transport.drivers.aiokafka`` 0.15.3; otherwise it is round robin.
    """
    return app.conf.table_standby_replicas > 0 or bool(app.tables.changelog_topics)


def table_partitions(app: faust.App, tps: Iterable[TP]) -> list[int]:
    """The user-keyed table partitions among ``tps``: those of the changelogs of tables with
    the app's partition count (global and single-partition tables, such as the catalog, are
    on every worker or one, and would blur which worker owns what)."""
    changelogs = {table.changelog_topic.get_topic_name() for table in app.tables.values()
                  if not table.is_global and table.partitions == app.conf.topic_partitions}
    return sorted({tp.partition for tp in tps if tp.topic in changelogs})


def recovering(app: faust.App) -> bool:
    """Whether a rebalance or the rebuilding of this worker's tables is under way.

    Until it is over a user's state may be missing, so nothing is answered from the tables.
    """
    recovery = app.tables.recovery
    return bool(app.rebalancing or recovery.in_recovery or not recovery.completed.is_set())


def rebuilding(app: faust.App, changelog_tp: TP) -> bool:
    """Whether the rows of ``changelog_tp`` are still being read into this worker's table.

    Only a partition the current recovery still has changelog records to apply for: one this
    worker kept through a rebalance is current (the store remembers its offset), so its users
    are answered while a joining worker's partitions are rebuilt elsewhere.
    """
    recovery = app.tables.recovery
    if recovery.completed.is_set() and not recovery.in_recovery:
        return False
    return changelog_tp in recovery.active_tps and recovery.active_remaining().get(changelog_tp, 1) > 0


def cluster_status(app: faust.App) -> tuple[bool, dict[str, Any]]:
    """Partitions this worker owns and keeps warm, and whether its tables are recovered.

    Ready (ok) once ``recovering`` is over, so load balancers look elsewhere until then.
    """
    busy = recovering(app)
    shown = {
        "partitions": table_partitions(app, app.assignor.assigned_actives()),
        "standby_partitions": table_partitions(app, app.assignor.assigned_standbys()),
        "recovery": "recovering" if busy else "done",
        "static_member": app.conf.consumer_group_instance_id,
        "faust_assignor": uses_faust_assignor(app),
    }
    return not busy, shown


def health_check(app: faust.App) -> Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]:
    """``cluster_status`` as a /health check; also feeds the partition gauges on every scrape."""
    PARTITIONS_OWNED.set_function(lambda: len(table_partitions(app, app.assignor.assigned_actives())))
    STANDBY_PARTITIONS.set_function(lambda: len(table_partitions(app, app.assignor.assigned_standbys())))

    async def check() -> tuple[bool, dict[str, Any]]:
        return cluster_status(app)
    return check
