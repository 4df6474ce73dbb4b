"""Table value codecs: MessagePack rows, with the JSON rows of earlier versions still read.

A user's row travels whole through the table's changelog every time a batch touches the
user (and is the stored value itself with ``rocksdb://``). As JSON every timestamp costs 13
digits and every movie id a quoted string key; MessagePack of the same row is about 40%
smaller and ``ormsgpack`` packs it in about 60% of the time Faust's JSON codec takes
(``bench.ingest`` measures both). The spam rows (``tables.spam``) keep their string keys
(they are JSON-ready dicts) and are packed the same way: a partition's row is written once
per rating batch and holds every open window's histogram and suspects. Rows written as
JSON before these codecs (they start with ``{``, never a MessagePack map) are still read.
"""
from __future__ import annotations

from typing import Any

import orjson
import ormsgpack
from faust.serializers import codecs

NAME = "user_state"
SPAM_NAME = "spam_state"
_MOVIE_MAPS = ("watched", "rated")


class MsgpackRowCodec(codecs.Codec):
    """MessagePack for new rows; JSON rows of earlier versions still decode."""

    options = ormsgpack.OPT_NON_STR_KEYS

    def _dumps(self, state: Any) -> bytes:
        return ormsgpack.packb(state, option=self.options)

    def _loads(self, data: bytes) -> Any:
        if data[:1] == b"{":
            return self.from_json(data)
        return ormsgpack.unpackb(data, option=self.options)

    def from_json(self, data: bytes) -> Any:
        return orjson.loads(data)


class UserStateCodec(MsgpackRowCodec):
    """User rows, whose movie ids are integer map keys."""

    def from_json(self, data: bytes) -> dict[str, Any]:
        """An old JSON row, with the integer movie keys the row has in memory now."""
        state = orjson.loads(data)
        for name in _MOVIE_MAPS:
            state[name] = {int(movie): value for movie, value in state[name].items()}
        return state


class SpamStateCodec(MsgpackRowCodec):
    """Spam rows: string keys only, as their JSON was."""

    options = 0


codecs.register(NAME, UserStateCodec())
codecs.register(SPAM_NAME, SpamStateCodec())
