"""Parser of legacy raw ``movielog`` lines into watch and rate records (DESIGN §3)."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from app.exceptions import InvalidEvent

# ASCII digits only (``\d`` would take other scripts' digits) and at most 12 of them, so an
# overflowing id is refused by the pattern instead of reaching ``int()``.
_LINE = re.compile(r"^(?P<time>[^,]{1,64}),(?P<user>[0-9]{1,12}),(?P<rest>.*)$")
_WATCH = re.compile(r"^GET /data/m/(?P<movie>[0-9]{1,12})/(?P<minute>[0-9]{1,12})\.mpg$")
_RATE = re.compile(r"^GET /rate/(?P<movie>[0-9]{1,12})=(?P<rating>[0-9]{1,12})$")
_RECO = re.compile(r"^recommendation request ")


def _epoch_ms(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return int(moment.timestamp() * 1000)
    except (ValueError, OverflowError) as exc:
        raise InvalidEvent(f"movielog: bad ISO time {text!r}") from exc


def parse_line(line: str) -> tuple[str, dict[str, Any]] | None:
    """``("watch" | "rate", record)`` for an event line, ``None`` for a logged recommendation.

    Logged recommendations are the legacy server's own responses, not user behaviour, so
    they are skipped rather than ingested. Anything else raises ``InvalidEvent``.
    """
    head = _LINE.match(line.strip())
    if head is None:
        raise InvalidEvent(f"movielog: not '<time>,<user_id>,<request>': {line[:120]!r}")
    ts, user_id, rest = _epoch_ms(head["time"]), int(head["user"]), head["rest"].strip()
    if watch := _WATCH.match(rest):
        return "watch", {"ts": ts, "user_id": user_id, "movie_id": int(watch["movie"]),
                         "minute": int(watch["minute"])}
    if rate := _RATE.match(rest):
        return "rate", {"ts": ts, "user_id": user_id, "movie_id": int(rate["movie"]),
                        "rating": int(rate["rating"])}
    if _RECO.match(rest):
        return None
    raise InvalidEvent(f"movielog: unknown request {rest[:120]!r}")
