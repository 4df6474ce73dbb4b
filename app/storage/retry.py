"""Retry a store call with bounded, jittered exponential backoff, and say so each time."""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from app.storage.exceptions import StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

OnRetry = Callable[[int, BaseException, float], None]
"""Called before each wait with (attempt that failed, its error, seconds until the next)."""


@dataclass(frozen=True)
class Backoff:
    """At most ``attempts`` tries; the n-th wait is about ``base_s * 2**(n-1)``, capped."""

    attempts: int = 5
    base_s: float = 0.2
    max_s: float = 10.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed ``attempt`` (1-based); jittered so workers spread out."""
        ceiling = min(self.max_s, self.base_s * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


DEFAULT_BACKOFF = Backoff()


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff = DEFAULT_BACKOFF,
    on_retry: OnRetry | None = None,
) -> T:
    """The result of ``call()``, retried on ``StoreUnavailable`` only; the last error is raised.

    ``on_retry`` is the hook for metrics and /health (e.g. count retries, mark the store
    degraded); every retry is also logged as a warning.
    """
    attempt = 1
    while True:
        try:
            return await call()
        except StoreUnavailable as err:
            if attempt >= backoff.attempts:
                raise
            delay = backoff.delay(attempt)
            log.warning("store unavailable (attempt %d/%d), retrying in %.2fs: %s",
                        attempt, backoff.attempts, delay, err)
            if on_retry is not None:
                on_retry(attempt, err, delay)
            await asyncio.sleep(delay)
            attempt += 1
