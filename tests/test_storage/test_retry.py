"""The retry helper: bounded, backing off, retrying only what may heal, and reporting it."""
from __future__ import annotations

import pytest

from app.storage import Backoff, KeyNotFound, StoreUnavailable, retry

FAST = Backoff(attempts=4, base_s=0.001, max_s=0.002)


class Flaky:
    """Fails with ``error`` the first ``failures`` calls, then answers."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


async def test_retries_until_it_succeeds_and_reports_each_retry() -> None:
    reported = []
    call = Flaky(2, StoreUnavailable("down"))
    result = await retry(call, backoff=FAST, on_retry=lambda n, err, delay: reported.append((n, str(err))))
    assert result == "done"
    assert reported == [(1, "down"), (2, "down")]


async def test_gives_up_after_the_last_attempt() -> None:
    call = Flaky(10, StoreUnavailable("still down"))
    with pytest.raises(StoreUnavailable, match="still down"):
        await retry(call, backoff=FAST)
    assert call.calls == FAST.attempts


async def test_errors_that_cannot_heal_are_not_retried() -> None:
    call = Flaky(1, KeyNotFound("k"))
    with pytest.raises(KeyNotFound):
        await retry(call, backoff=FAST)
    assert call.calls == 1


def test_delays_grow_exponentially_up_to_the_cap() -> None:
    backoff = Backoff(attempts=10, base_s=1.0, max_s=5.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        assert ceiling / 2 <= backoff.delay(attempt) <= ceiling
