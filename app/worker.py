"""The worker process class: Faust's, with a bound on how long a stop may take.

Faust stops a worker by stopping its services in turn; with the broker gone, the consumer's
final commit, the producer's flush and the snapshot sink's commit each wait for a broker
that does not come back, and the process never exits. A stop is armed with a deadline
instead (``MOVIE_RECS_STOP_TIMEOUT_S``): past it the process exits at once. Nothing promised
is lost that way: a snapshot file is written before its offsets are committed and table
updates are idempotent by offset, so whatever was not committed is consumed again by the
next owner of its partitions.

It also starts the tasks marked ``before_recovery`` as soon as the worker has its first
assignment. Faust starts an ``app.task`` only once table recovery is over; a restarted
worker then replayed ``model-events`` and loaded its model after its tables were rebuilt,
seconds it could have spent on both at once. Not earlier than the assignment: on a loaded
machine their CPU delayed the group join past the session timeout, which costs a static
member its partitions. Such a task must not need the tables (the HTTP views refuse
table-backed answers until recovery is over, ``app.cluster.recovering``).
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Awaitable, Callable

import faust

from app.settings import get_settings

log = logging.getLogger(__name__)
EX_STOP_TIMEOUT = 3
"""Exit status of a stop that ran out of time (0 is a clean stop)."""
Task = Callable[[], Awaitable[None]]
EARLY_TASKS: list[Task] = []
"""The tasks ``before_recovery`` marked, started by the worker at its first assignment."""


def before_recovery(task: Task) -> Task:
    """Run ``task`` from the worker's first assignment on, concurrently with table recovery."""
    EARLY_TASKS.append(task)
    return task


async def once_set(event: asyncio.Event, task: Task) -> None:
    await event.wait()
    await task()


def exit_now(timeout_s: float) -> None:
    """Leave the process without waiting for anything more."""
    log.error("worker did not stop within %g s (is the broker down?); exiting now: what was not "
              "committed is consumed again at the next start", timeout_s)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(EX_STOP_TIMEOUT)


class BoundedStopWorker(faust.Worker):
    """A ``faust.Worker`` whose stop on SIGTERM or SIGINT takes at most the configured time,
    and which starts the ``before_recovery`` tasks at its first assignment."""

    _deadline: threading.Timer | None = None

    async def on_first_start(self) -> None:
        await super().on_first_start()  # autodiscovery: every early task is registered by now
        assigned = asyncio.Event()

        async def on_assigned(app: faust.App, *args: object, **kwargs: object) -> None:
            assigned.set()  # sent after the tables were told, so their recovery is under way
        self.app.on_partitions_assigned.connect(on_assigned)
        for task in EARLY_TASKS:
            self.app.add_future(once_set(assigned, task))

    def arm_stop_deadline(self) -> None:
        """Start the clock on the first stop signal (a second signal does not restart it)."""
        if self._deadline is None:
            timeout_s = get_settings().stop_timeout_s
            self._deadline = threading.Timer(timeout_s, exit_now, args=(timeout_s,))
            self._deadline.daemon = True
            self._deadline.start()

    def _on_sigterm(self) -> None:
        self.arm_stop_deadline()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self.arm_stop_deadline()
        super()._on_sigint()
