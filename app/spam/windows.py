"""Tumbling windows of per-user rate counts, closed per partition and decided by one coordinator.

All state is JSON-ready dicts that travel through Faust table changelogs (so histogram keys
and user ids are strings there); the functions here are pure and tested without Faust.

- A user's row (table ``spam_windows``, keyed by user): ``{"windows": {start: count}}``.
- A partition's row (table ``spam_partitions``, one per partition of the rate topic):
  ``offsets`` (stream -> last offset counted, so a replay is skipped), ``watermark`` (the
  latest valid event time seen), ``closed_until`` (every window ending at or before it is
  closed), and per open or closed-but-undecided window its ``hist`` (``{count: users}``)
  and ``over`` (users above the floor with their counts: the only possible suspects).
  The rating ingest agent counts into these two, so it alone writes them.
- A partition's decisions (table ``spam_decided``, one per partition): ``decided_until``,
  the end of the latest window whose threshold the partition has applied. The spam agent
  alone writes it; the counting side reads it to forget decided windows.
- The coordinator's row (one, on the single partition of ``spam-summaries``): the
  ``closed_until`` every partition reported, the ``pending`` merged histograms, and
  ``decided_until``.

A window [s, s + W) closes on a partition once that partition's watermark reaches
s + W + grace. Events for a closed window are late: they are left out of its verdict (and
counted). The coordinator decides a window once every partition has closed it, so the
threshold is computed over the whole population exactly once.
"""
from __future__ import annotations

from typing import Any

from app.spam.rules import Histogram, Verdict, merge, move, verdict

Row = dict[str, Any]
COUNTED, REPLAYED, LATE = "counted", "replayed", "late"


def window_of(ts_ms: int, window_ms: int) -> int:
    """The start of the tumbling window holding ``ts_ms``."""
    return ts_ms - ts_ms % window_ms


def new_partition_state() -> Row:
    return {"offsets": {}, "watermark": 0, "closed_until": 0, "windows": {}}


def new_decided_state() -> Row:
    return {"decided_until": 0}


def _hist(raw: dict[str, int]) -> Histogram:
    return {int(count): users for count, users in raw.items()}


def count_event(part: Row, user: Row, user_id: int, ts_ms: int, stream: str, offset: int,
                window_ms: int, floor: int, now_ms: int) -> str:
    """Count one valid rate event in ``part`` and the user's ``user`` row (both in place).

    The watermark never passes ``now_ms`` (the worker's clock): one event stamped in the
    future (validation allows some skew) would otherwise close the partition's windows
    early and make every rating until then late, blinding the detector.
    """
    if offset <= part["offsets"].get(stream, -1):
        return REPLAYED
    part["offsets"][stream] = offset
    part["watermark"] = max(part["watermark"], min(ts_ms, now_ms))
    start = window_of(ts_ms, window_ms)
    if start + window_ms <= part["closed_until"]:
        return LATE
    counts = user["windows"]
    for stale in [s for s in counts if int(s) + window_ms <= part["closed_until"]]:
        del counts[stale]
    old = counts.get(str(start), 0)
    counts[str(start)] = old + 1
    window = part["windows"].setdefault(str(start), {"hist": {}, "over": {}, "closed": False})
    # moved with the row's string keys: no conversion of the histogram per event
    move(window["hist"], str(old) if old else None, str(old + 1))
    if old + 1 > floor:
        window["over"][str(user_id)] = old + 1
    return COUNTED


def close_windows(part: Row, window_ms: int, grace_ms: int) -> dict[str, Any] | None:
    """Close the windows the watermark has passed (by ``grace_ms``); their summary, or None.

    The summary carries the partition's new ``closed_until`` and the histogram of every
    window it closes, for the coordinator; an empty ``windows`` still reports progress. A
    closed window with no user above the floor is forgotten at once: its histogram is in the
    summary, and no threshold (never below the floor) can flag anyone in it.
    """
    closed_until = window_of(part["watermark"] - grace_ms, window_ms)
    if closed_until <= part["closed_until"]:
        return None
    part["closed_until"] = closed_until
    closing = {}
    for start, window in list(part["windows"].items()):
        if int(start) + window_ms <= closed_until and not window["closed"]:
            window["closed"] = True
            closing[start] = window["hist"]
            if not window["over"]:
                del part["windows"][start]
    return {"closed_until": closed_until, "windows": closing}


def suspects(part: Row, decisions: Row, decided: Verdict) -> list[tuple[int, int]]:
    """Users of ``part`` above the window's threshold, with their counts; ``decisions`` notes it.

    Thresholds reach a partition in window order (one coordinator sends them in order), so
    one that does not end past ``decided_until`` was applied before: a replay flags nobody.
    """
    if decided.window_end <= decisions["decided_until"]:
        return []
    decisions["decided_until"] = decided.window_end
    window = part["windows"].get(str(decided.window_start))
    if window is None:
        return []  # no rating on this partition in that window
    return sorted((int(user), count) for user, count in window["over"].items() if count > decided.threshold)


def forget_decided(part: Row, decided_until: int) -> None:
    """Drop the windows of ``part`` whose thresholds were applied (``suspects``): they are done."""
    for start in [s for s in part["windows"] if int(s) < decided_until]:
        del part["windows"][start]


def new_coordinator_state() -> Row:
    return {"closed_until": {}, "pending": {}, "decided_until": 0}


def receive_summary(coord: Row, partition: int, summary: dict[str, Any], partitions: int,
                    window_ms: int, floor: int, min_population: int) -> list[Verdict]:
    """Merge one partition's summary; the verdicts of the windows every partition has now closed.

    A window where no user's count is above ``floor`` gets no verdict: the threshold is never
    below the floor, so it could flag nobody, and its partitions forgot it when they closed it.
    """
    reported = coord["closed_until"].get(str(partition), 0)
    if summary["closed_until"] <= reported:
        return []  # a replay
    coord["closed_until"][str(partition)] = summary["closed_until"]
    for start, hist in summary["windows"].items():
        if int(start) < coord["decided_until"]:
            continue
        pending = coord["pending"].get(start, {})
        coord["pending"][start] = {str(c): n for c, n in merge([_hist(pending), _hist(hist)]).items()}
    if len(coord["closed_until"]) < partitions:
        return []
    everyone_closed = min(coord["closed_until"].values())
    verdicts = []
    for start in sorted(coord["pending"], key=int):
        if int(start) + window_ms > everyone_closed:
            break
        hist = _hist(coord["pending"].pop(start))
        if hist and max(hist) > floor:
            verdicts.append(verdict(hist, floor, int(start), int(start) + window_ms, min_population))
        coord["decided_until"] = max(coord["decided_until"], int(start) + window_ms)
    return verdicts
