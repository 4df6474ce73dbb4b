"""Token buckets on a fake clock: burst, refill, wait times, idle expiry and the memory bound."""
from __future__ import annotations

import pytest

from app.metrics import RATE_LIMITED
from app.ratelimit import Limiter, TokenBuckets, limiters
from app.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5), "one token comes back every 1/rate seconds"
    clock.now += 0.25
    assert buckets.take("a") == pytest.approx(0.25), "a refused call takes nothing"
    clock.now += 0.25
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0


def test_keys_are_independent() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, clock=Clock())
    assert buckets.take("a") == 0.0 and buckets.take("a") > 0
    assert buckets.take("b") == 0.0


def test_refill_never_exceeds_the_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=10.0, burst=2, max_keys=10, clock=clock)
    buckets.take("a")
    clock.now += 0.05  # not idle long enough to be forgotten
    buckets.take("b")
    clock.now += 0.1
    assert [buckets.take("b") == 0.0 for _ in range(3)] == [True, True, False]


def test_idle_buckets_expire() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=5, clock=clock)
    for key in range(100):
        buckets.take(key)
    assert len(buckets) == 100
    clock.now += 5.0  # burst / rate: every bucket would be full again
    buckets.take("fresh")
    assert len(buckets) == 1


def test_memory_is_bounded_under_a_flood_of_keys() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, max_keys=50, clock=Clock())
    for key in range(10_000):
        buckets.take(key)
    assert len(buckets) == 50
    assert buckets.take(9_999) > 0, "the most recent keys are the ones kept"


@pytest.mark.parametrize("args", [(0, 1), (1, 0), (-1, 5)])
def test_nonsense_limits_are_refused(args: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        TokenBuckets(*args)


def test_limiter_counts_refusals_per_channel_and_zero_rate_is_off() -> None:
    settings = Settings(kafka_client_rate_per_s=1.0, kafka_client_burst=1, ratings_per_user_hour=0)
    http, kafka, ratings = limiters(settings)
    before = RATE_LIMITED.labels("kafka")._value.get()
    assert kafka.check("c") == 0.0 and kafka.check("c") == pytest.approx(1.0, abs=0.01)
    assert RATE_LIMITED.labels("kafka")._value.get() == before + 1
    assert ratings.buckets is None and all(ratings.check(7) == 0.0 for _ in range(1000))
    assert http.buckets.burst == settings.http_burst


def test_ratings_bucket_refills_over_an_hour() -> None:
    clock = Clock()
    ratings = Limiter.build("ratings", 60 / 3600.0, 60, Settings(), clock=clock)
    assert sum(ratings.check(1) == 0.0 for _ in range(100)) == 60
    clock.now += 60.0  # a minute buys one more rating
    assert ratings.check(1) == 0.0 and ratings.check(1) > 0
