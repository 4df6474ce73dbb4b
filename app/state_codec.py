"""The value codec of the ``user_history`` table: MessagePack with integer movie ids.

A user's row travels whole through the table's changelog every time a batch touches the
user (and is the stored value itself with ``rocksdb://``). As JSON every timestamp costs 13
digits and every movie id a quoted string key; MessagePack of the same row is about 40%
smaller and ``ormsgpack`` packs it in about 60% of the time Faust's JSON codec takes
(``bench.ingest`` measures both). Rows written as JSON before this codec (they start with
``{``, never a MessagePack map) are still read, their movie keys made integers.
"""
from __future__ import annotations

from typing import Any

import orjson
import ormsgpack
from faust.serializers import codecs

NAME = "user_state"
_OPTIONS = ormsgpack.OPT_NON_STR_KEYS  # movie ids are integer map keys
_MOVIE_MAPS = ("watched", "rated")


def _from_json(data: bytes) -> dict[str, Any]:
    """An old JSON row, with the integer movie keys the row has in memory now."""
    state = orjson.loads(data)
    for name in _MOVIE_MAPS:
        state[name] = {int(movie): value for movie, value in state[name].items()}
    return state


class UserStateCodec(codecs.Codec):
    """MessagePack for new rows; JSON rows of earlier versions still decode."""

    def _dumps(self, state: Any) -> bytes:
        return ormsgpack.packb(state, option=_OPTIONS)

    def _loads(self, data: bytes) -> Any:
        if data[:1] == b"{":
            return _from_json(data)
        return ormsgpack.unpackb(data, option=_OPTIONS)


codecs.register(NAME, UserStateCodec())
