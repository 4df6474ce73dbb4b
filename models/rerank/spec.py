"""Re-rankers from spec strings: ``name:key=value,key=value`` steps joined by ``|``.

Examples: ``popularity_penalty:beta=0.5``, ``mmr:lambda=0.3``, ``tail_quota:q=3``,
``explore:slots=2``, ``mmr:lambda=0.3|tail_quota:q=2,depth=10``. Every step takes
``depth`` (candidates scored per slot, default 3). ``""`` and ``none`` mean no re-ranking.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

from models.rerank.base import DEFAULT_DEPTH
from models.rerank.steps import Chain, Explore, GenreMMR, PopularityPenalty, TailQuota

MAX_DEPTH = 200


class SpecError(ValueError):
    """A spec that does not describe a re-ranker; ``str(exc)`` says what is wrong and what is allowed."""


def _fraction(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SpecError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise SpecError(f"{name}={raw!r} is outside {low}..{high}")
    return value


def _count(name: str, raw: str, low: int, high: int) -> int:
    if not raw.strip().isdigit():
        raise SpecError(f"{name}={raw!r} is not a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise SpecError(f"{name}={raw!r} is outside {low}..{high}")
    return value


# name -> (class, {parameter: (field, parser)}, required parameters)
STEPS: dict[str, tuple[Callable[..., Any], dict[str, tuple[str, Callable[[str, str], Any]]], tuple[str, ...]]] = {
    "popularity_penalty": (PopularityPenalty, {"beta": ("beta", lambda n, r: _fraction(n, r, 0.0, 10.0))}, ("beta",)),
    "mmr": (GenreMMR, {"lambda": ("lam", lambda n, r: _fraction(n, r, 0.0, 1.0))}, ("lambda",)),
    "tail_quota": (TailQuota, {"q": ("q", lambda n, r: _count(n, r, 0, 100))}, ("q",)),
    "explore": (Explore, {"slots": ("slots", lambda n, r: _count(n, r, 0, 100))}, ("slots",)),
}
_DEPTH = ("depth", lambda n, r: _count(n, r, 1, MAX_DEPTH))


def _step(text: str) -> Any:
    name, _, params = text.strip().partition(":")
    name = name.strip()
    if name not in STEPS:
        raise SpecError(f"unknown re-ranker {name!r}; known: {', '.join(STEPS)}")
    klass, known, required = STEPS[name]
    allowed = {**known, "depth": _DEPTH}
    fields: dict[str, Any] = {"depth": DEFAULT_DEPTH}
    for pair in filter(None, (p.strip() for p in params.split(","))):
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep:
            raise SpecError(f"{name}: {pair!r} is not key=value")
        if key not in allowed:
            raise SpecError(f"{name}: unknown parameter {key!r}; known: {', '.join(allowed)}")
        field, parse_value = allowed[key]
        fields[field] = parse_value(key, raw.strip())
    missing = [p for p in required if known[p][0] not in fields]
    if missing:
        raise SpecError(f"{name}: missing {', '.join(missing)} (e.g. {name}:{missing[0]}=...)")
    return klass(**fields)


@lru_cache(maxsize=256)
def parse(spec: str | None) -> Chain | None:
    """The re-ranker a spec describes, None for no re-ranking; ``SpecError`` for a bad spec."""
    if spec is None or spec.strip().lower() in ("", "none"):
        return None
    return Chain(tuple(_step(part) for part in spec.split("|")))
