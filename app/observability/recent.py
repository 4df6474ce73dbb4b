"""The latest dead letters, kept in memory so the operator page can show their reasons."""
from __future__ import annotations

import time
from collections import deque
from typing import Any

KEPT = 50


class RecentDeadLetters:
    """A bounded list of the last dead letters (no payloads: the topic has them)."""

    def __init__(self, size: int = KEPT) -> None:
        self.items: deque[dict[str, Any]] = deque(maxlen=size)

    def add(self, topic: str, partition: int | None, offset: int | None, category: str, reason: str) -> None:
        self.items.appendleft({"ts": time.time(), "topic": topic, "partition": partition, "offset": offset,
                               "category": category, "reason": reason[:300]})

    def latest(self, n: int = 20) -> list[dict[str, Any]]:
        return list(self.items)[:n]


RECENT_DEAD_LETTERS = RecentDeadLetters()
