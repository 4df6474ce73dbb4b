"""The event stream looks like real watch / rate / request traffic and is reproducible."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from models.data.events import HOUR_MS, MINUTE_MS, REQUEST_TOPIC, build_stream, paced
from models.data.synthetic import generate

WATCH_FIELDS = {"ts", "user_id", "movie_id", "minute"}
RATE_FIELDS = {"ts", "user_id", "movie_id", "rating"}
REQUEST_FIELDS = {"request_id", "ts", "user_id", "k", "client_id", "exclude"}


@pytest.fixture(scope="module")
def interactions() -> pd.DataFrame:
    return generate(n_users=300, n_movies=500, n_interactions=15_000, seed=1)[0]


@pytest.fixture(scope="module")
def events(interactions: pd.DataFrame) -> pd.DataFrame:
    """The stream as a frame (one row per event, value fields as columns) plus the spammers."""
    stream = build_stream(interactions, seed=5, max_minutes=6, request_share=0.05, spam_users=4)
    rows = [{"topic": topic, "key": key, **value} for topic, key, value in stream]
    frame = pd.DataFrame(rows)
    frame.attrs["spammers"] = stream.spammers
    return frame


def test_values_have_exactly_the_avro_fields(events: pd.DataFrame) -> None:
    stream = build_stream(generate(n_users=30, n_movies=50, n_interactions=600)[0], max_minutes=3)
    expected = {"watch": WATCH_FIELDS, "rate": RATE_FIELDS, REQUEST_TOPIC: REQUEST_FIELDS}
    for topic, key, value in stream:
        assert set(value) == expected[topic]
        assert key == str(value["user_id"])
        assert all(type(value[f]) is int for f in value.keys() - {"request_id", "client_id", "exclude"})


def test_stream_is_time_ordered(events: pd.DataFrame) -> None:
    assert events["ts"].is_monotonic_increasing
    assert events.groupby("user_id")["ts"].apply(lambda ts: ts.is_monotonic_increasing).all()


def test_one_watch_event_per_minute_then_the_rating(events: pd.DataFrame, interactions: pd.DataFrame) -> None:
    watches = events[events["topic"] == "watch"].sort_values(["user_id", "movie_id", "ts"], kind="stable")
    viewing = watches.groupby(["user_id", "movie_id"])
    assert (watches["minute"] == viewing.cumcount()).all()
    assert (viewing["ts"].diff().dropna() == MINUTE_MS).all()
    assert watches["minute"].max() == 5  # max_minutes=6
    # Every interaction is viewed once, never before its own time.
    first = viewing["ts"].min()
    asked = interactions.set_index(["user_id", "movie_id"])["ts"]
    assert len(first) == len(asked) and (first >= asked.loc[first.index]).all()
    rates = events[(events["topic"] == "rate") & ~events["user_id"].isin(events.attrs["spammers"])]
    rate_ts = rates.set_index(["user_id", "movie_id"])["ts"]
    assert len(rate_ts) == len(asked) and (rate_ts > viewing["ts"].max().loc[rate_ts.index]).all()
    assert set(events.loc[events["topic"] == "rate", "rating"].astype(int)) <= {1, 2, 3, 4, 5}


def test_viewings_of_a_user_never_overlap(events: pd.DataFrame) -> None:
    watches = events[events["topic"] == "watch"]
    spans = watches.groupby(["user_id", "movie_id"])["ts"].agg(["min", "max"]).reset_index()
    spans = spans.sort_values(["user_id", "min"])
    next_start = spans.groupby("user_id")["min"].shift(-1)
    assert (next_start.dropna() > spans.loc[next_start.notna(), "max"]).all()


def test_requests_are_well_formed(events: pd.DataFrame) -> None:
    requests = events[events["topic"] == REQUEST_TOPIC]
    assert 0.04 < len(requests) / len(events) < 0.06
    assert requests["request_id"].is_unique
    assert requests["k"].between(1, 100).all()
    assert requests["client_id"].str.fullmatch(r"[a-z]+-\d+").all()
    assert all(isinstance(x, list) and all(type(m) is int for m in x) for x in requests["exclude"])
    assert 0 < requests["exclude"].map(len).sum() < len(requests)


def test_spam_users_burst_far_above_everyone_else(events: pd.DataFrame) -> None:
    """A robust 3-sigma detector over hourly windows (DESIGN §6) flags the spammers and nobody else."""
    spammers = events.attrs["spammers"]
    assert len(spammers) == 4
    rates = events[events["topic"] == "rate"]
    hourly = rates.groupby(["user_id", rates["ts"] // HOUR_MS]).size()
    counts = hourly.to_numpy()
    median = np.median(counts)
    threshold = max(median + 3 * 1.4826 * np.median(np.abs(counts - median)), 20)
    assert set(hourly[hourly > threshold].index.get_level_values("user_id")) == spammers
    honest_max = hourly.drop(list(spammers), level="user_id").max()
    spam_peaks = hourly.loc[list(spammers)].groupby(level="user_id").max()
    assert (spam_peaks > 10 * honest_max).all()
    assert not events.loc[events["topic"] == "watch", "user_id"].isin(spammers).any()


def test_same_seed_same_stream_other_seed_other_stream(interactions: pd.DataFrame) -> None:
    def stream(seed: int) -> list:
        return list(build_stream(interactions.iloc[:2000], seed=seed, max_minutes=4, spam_users=1))

    assert stream(3) == stream(3)
    assert stream(3) != stream(4)


def test_200k_events_well_under_two_seconds() -> None:
    interactions = generate(n_users=300, n_movies=500, n_interactions=40_000, seed=2)[0]
    started = time.perf_counter()
    stream = build_stream(interactions, max_minutes=5, spam_users=2)
    count = sum(1 for _ in stream)
    elapsed = time.perf_counter() - started
    assert count >= 200_000
    assert elapsed * 200_000 / count < 1.5


class FakeClock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


async def test_paced_keeps_the_target_rate_on_a_fake_clock() -> None:
    clock = FakeClock()
    sent = [event async for event in paced(range(1000), rate=50.0, clock=clock, sleep=clock.sleep)]
    assert sent == list(range(1000))
    assert clock.now - 100.0 == pytest.approx(999 / 50.0)
    assert clock.sleeps <= 1000


async def test_paced_sends_high_rates_in_small_bursts() -> None:
    clock = FakeClock()
    [event async for event in paced(range(10_000), rate=10_000.0, clock=clock, sleep=clock.sleep)]
    assert clock.now - 100.0 == pytest.approx(1.0, abs=0.01)
    assert clock.sleeps < 250  # one timer per ~5 ms, not per event


async def test_paced_on_the_real_clock() -> None:
    started = time.monotonic()
    sent = [event async for event in paced(range(200), rate=1000.0)]
    assert len(sent) == 200
    assert 0.15 < time.monotonic() - started < 0.6
