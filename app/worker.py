"""The worker process class: Faust's, with a bound on how long a stop may take.

Faust stops a worker by stopping its services in turn; with the broker gone, the consumer's
final commit, the producer's flush and the snapshot sink's commit each wait for a broker
that does not come back, and the process never exits. A stop is armed with a deadline
instead (``MOVIE_RECS_STOP_TIMEOUT_S``): past it the process exits at once. Nothing promised
is lost that way: a snapshot file is written before its offsets are committed and table
updates are idempotent by offset, so whatever was not committed is consumed again by the
next owner of its partitions.

It also starts the tasks marked ``early_task`` before table recovery is over. Faust starts
an ``app.task`` only then; a restarted worker replayed ``model-events`` and loaded its model
after its tables were rebuilt, seconds it could have spent on them at once. A task waiting
mostly on the network starts with the worker (``"start"``: the replay, while the worker
joins its group); a CPU-bound one at the first assignment (``"assignment"``: the model load,
while the tables recover), since on a loaded machine its CPU delayed the join past the
session timeout, which costs a static member its partitions. Such tasks must not need the
tables (the HTTP views refuse table-backed answers for a partition still being rebuilt,
``app.cluster.rebuilding``).
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Literal

import faust

from app.settings import get_settings

log = logging.getLogger(__name__)
EX_STOP_TIMEOUT = 3
"""Exit status of a stop that ran out of time (0 is a clean stop)."""
Task = Callable[[], Awaitable[None]]
When = Literal["start", "assignment"]
EARLY_TASKS: dict[When, list[Task]] = {"start": [], "assignment": []}
"""The tasks ``early_task`` marked, by when the worker starts them."""


def early_task(when: When) -> Callable[[Task], Task]:
    """Run the task from the worker's start, or from its first assignment, instead of after recovery."""
    def mark(task: Task) -> Task:
        EARLY_TASKS[when].append(task)
        return task
    return mark


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
    and which starts the ``early_task`` tasks before table recovery is over."""

    _deadline: threading.Timer | None = None

    async def on_first_start(self) -> None:
        await super().on_first_start()  # autodiscovery: every early task is registered by now
        assigned = asyncio.Event()

        async def on_assigned(app: faust.App, *args: object, **kwargs: object) -> None:
            assigned.set()  # sent after the tables were told, so their recovery is under way
        self.app.on_partitions_assigned.connect(on_assigned)
        for task in EARLY_TASKS["start"]:
            self.app.add_future(task())
        for task in EARLY_TASKS["assignment"]:
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
