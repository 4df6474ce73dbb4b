"""The catalog: records from frames, the rules a Movie passes, the agent, and titles in answers."""
from __future__ import annotations

import asyncio

import pytest

from app.catalog import check_movie, records_from_frame
from app.codec import AvroCodec
from app.exceptions import InvalidEvent
from models.data.movielens import load_catalog
from models.data.synthetic import generate
from tests.conftest import ML100K

MOVIE, DEAD = AvroCodec("Movie"), AvroCodec("DeadLetter")


def test_synthetic_and_movielens_catalogs_become_valid_movie_records() -> None:
    synthetic = records_from_frame(generate()[1])
    assert len(synthetic) == 1700 and all(check_movie(r, 10**7) for r in synthetic)
    assert all(r["genres"] for r in synthetic)
    movielens = records_from_frame(load_catalog(ML100K))
    toy = next(r for r in movielens if r["movie_id"] == 1)
    assert toy == {"movie_id": 1, "title": "Toy Story", "genres": ["Animation", "Children's", "Comedy"],
                   "year": 1995}
    assert MOVIE.decode(MOVIE.encode(toy)) == toy


@pytest.mark.parametrize("change, reason", [
    ({"movie_id": 0}, "movie_id 0"), ({"title": "  "}, "title"), ({"genres": ["", "Drama"]}, "genres"),
    ({"year": 1200}, "year 1200")])
def test_invalid_movies_are_refused_with_the_reason(change: dict, reason: str) -> None:
    good = {"movie_id": 5, "title": "Heat", "genres": ["Crime"], "year": 1995}
    assert check_movie(good, 100) == good
    with pytest.raises(InvalidEvent, match=reason):
        check_movie({**good, **change}, 100)


async def test_agent_fills_the_table_dead_letters_bad_records_and_obeys_tombstones(faust_test_app) -> None:
    from agents.catalog import load_catalog as agent
    from app.reco_views import movies_with_titles
    from tables.catalog import catalog, genres_of, title_of

    catalog.data.clear()
    async with agent.test_context() as ctx:
        await ctx.put(MOVIE.encode({"movie_id": 7, "title": "Seven", "genres": ["Crime", "Thriller"],
                                    "year": 1995}), key=b"7")
        await ctx.put(MOVIE.encode({"movie_id": 8, "title": "Eight", "genres": [], "year": None}), key=b"8")
        await ctx.put(b"\x00\x00\x00\x00\x08junk", key=b"9")
        await ctx.put(MOVIE.encode({"movie_id": 10, "title": "", "genres": [], "year": None}), key=b"10")
        await ctx.put(None, key=b"8")
        await asyncio.sleep(0.1)
    assert title_of(7) == "Seven" and genres_of(7) == ("Crime", "Thriller")
    assert title_of(8) == "" and genres_of(8) == () and title_of(10) == ""
    letters = [DEAD.decode(c.kwargs["value"]) for c in faust_test_app["dead-letters"].call_args_list]
    assert [letter["offset"] for letter in letters] == [2, 3]
    assert "title" in letters[1]["error"]
    from app.catalog import row_of
    from app.serving import GENRES  # what the genre re-rankers read

    assert GENRES.of(7) == {"Crime", "Thriller"} and GENRES.of(99) == set()
    catalog.data[b"99"] = row_of({"title": "Late", "genres": ["Drama"], "year": None})
    assert GENRES.of(99) == {"Drama"}  # a movie that arrives later is not remembered as genre-less
    del catalog.data[b"99"]
    answer = movies_with_titles({"movie_ids": [7, 99, 5], "scores": [0.5, 0.25, 0.1]}, {7: "old title", 5: "Five"})
    assert answer == [{"movie_id": 7, "title": "Seven", "score": 0.5}, {"movie_id": 99, "title": "", "score": 0.25},
                      {"movie_id": 5, "title": "Five", "score": 0.1}]  # the table first, the model's catalog second
