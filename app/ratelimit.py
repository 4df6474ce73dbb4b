"""Token buckets per client (API key, address, ``client_id``, user): pure, clock-injected, bounded.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens a second; a call that
finds a token takes it, one that does not learns how long until one is there. A bucket idle
long enough to have refilled completely is the same as a new one, so it is forgotten: memory
follows the clients active in the last ``burst / rate`` seconds, and ``max_keys`` caps it
even under a flood of fresh keys (the stalest bucket goes first, which can only favour
that client). State is per process: each worker limits what it sees.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from app.metrics import RATE_LIMITED
from app.settings import Settings, get_settings


class TokenBuckets:
    """One token bucket per key, all with the same ``rate`` (tokens/s) and ``burst``."""

    def __init__(self, rate: float, burst: float, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("a token bucket needs rate > 0, burst >= 1 and max_keys >= 1")
        self.rate, self.burst, self.max_keys, self.clock = rate, float(burst), max_keys, clock
        self.idle_s = self.burst / rate
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()  # key: (tokens, at)

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: Hashable) -> float:
        """Take a token for ``key``: 0.0 when granted, else the seconds until one is available."""
        now = self.clock()
        self._expire(now)
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)  # most recently used last
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait

    def _expire(self, now: float) -> None:
        while self._buckets:
            _, (_, at) = next(iter(self._buckets.items()))
            if now - at < self.idle_s:
                return
            self._buckets.popitem(last=False)


@dataclass
class Limiter:
    """A channel's buckets (``http``, ``kafka`` or ``ratings``), off when built with rate 0."""

    channel: str
    buckets: TokenBuckets | None

    @classmethod
    def build(cls, channel: str, rate: float, burst: float, settings: Settings,
              clock: Callable[[], float] = time.monotonic) -> "Limiter":
        buckets = TokenBuckets(rate, burst, max_keys=settings.rate_limit_max_keys, clock=clock) if rate > 0 else None
        return cls(channel, buckets)

    def check(self, key: Hashable) -> float:
        """0.0 when ``key`` may go on, else the seconds to wait (counted as rate limited)."""
        if self.buckets is None:
            return 0.0
        wait = self.buckets.take(key)
        if wait:
            RATE_LIMITED.labels(self.channel).inc()
        return wait


def limiters(settings: Settings) -> tuple[Limiter, Limiter, Limiter]:
    """The HTTP, Kafka ``client_id`` and ratings-per-user limiters, from settings."""
    return (Limiter.build("http", settings.http_rate_per_s, settings.http_burst, settings),
            Limiter.build("kafka", settings.kafka_client_rate_per_s, settings.kafka_client_burst, settings),
            Limiter.build("ratings", settings.ratings_per_user_hour / 3600.0, settings.ratings_per_user_hour,
                          settings))


HTTP, KAFKA, RATINGS = limiters(get_settings())
