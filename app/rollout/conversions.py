"""Online conversion (DESIGN §6): a served list converts when its user starts watching one of
its movies after the response and within the window.

A user's pending lists are a JSON-ready list of entries, newest last:
``{"r": request_id, "t": trial, "a": arm, "ts": served at (epoch ms), "m": [movie ids]}``.
A watch converts the newest list served before it that holds the movie (last touch), once;
a watch before the response, or after the window, converts nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_PENDING = 10
"""Pending lists kept per user at most (the oldest go first): memory stays bounded."""

Entry = dict[str, Any]


def pending_entry(response: dict[str, Any], trial: str) -> Entry:
    """The pending entry of a served response."""
    return {"r": response["request_id"], "t": trial, "a": response["arm"], "ts": response["ts"],
            "m": list(response["movie_ids"])}


def live(entries: list[Entry], now_ms: int, window_ms: int) -> list[Entry]:
    """The entries that can still convert at ``now_ms``."""
    return [entry for entry in entries if entry["ts"] + window_ms >= now_ms]


def add(entries: list[Entry], entry: Entry, now_ms: int, window_ms: int) -> list[Entry]:
    """``entries`` with ``entry`` added and the expired ones gone, at most ``MAX_PENDING``."""
    return [*live(entries, now_ms, window_ms), entry][-MAX_PENDING:]


@dataclass(frozen=True)
class Conversion:
    """A served list that converted: what the ``conversions`` topic carries, and its trial."""

    request_id: str
    trial: str
    arm: str
    movie_id: int
    position: int
    """1-based place of the movie in the served list."""
    served_ts: int
    ts: int
    """When the watch happened (the event's time)."""

    def as_record(self) -> dict[str, Any]:
        """The JSON value on ``conversions``."""
        return {"request_id": self.request_id, "arm": self.arm, "movie_id": self.movie_id,
                "position": self.position, "served_ts": self.served_ts, "ts": self.ts}


def match(entries: list[Entry], movie_id: int, watch_ts: int, window_ms: int) -> tuple[Conversion | None, list[Entry]]:
    """The conversion a watch of ``movie_id`` at ``watch_ts`` makes, and the entries left.

    The converted list leaves the pending lists (it converts once); nothing else changes.
    """
    for index in range(len(entries) - 1, -1, -1):
        entry = entries[index]
        if entry["ts"] < watch_ts <= entry["ts"] + window_ms and movie_id in entry["m"]:
            conversion = Conversion(entry["r"], entry["t"], entry["a"], movie_id, entry["m"].index(movie_id) + 1,
                                    entry["ts"], watch_ts)
            return conversion, entries[:index] + entries[index + 1:]
    return None, entries
