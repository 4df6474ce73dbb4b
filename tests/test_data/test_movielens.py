"""Every MovieLens ratings and catalog format reads into the same frames."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from models.data.movielens import find_catalog_file, find_ratings_file, load_catalog, load_interactions

ML100K = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ml-100k"

# The same three ratings in each release's ratings format (timestamps in seconds, unsorted).
RATINGS = {
    "u.data": "2\t20\t4\t900000100\n1\t10\t5\t900000000\n1\t30\t1\t900000200\n",
    "ratings.dat": "2::20::4::900000100\n1::10::5::900000000\n1::30::1::900000200\n",
    "ratings.csv": "userId,movieId,rating,timestamp\n2,20,4.0,900000100\n1,10,5.0,900000000\n1,30,1.0,900000200\n",
    "ml.inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "2\t20\t4\t900000100\n1\t10\t5\t900000000\n1\t30\t1\t900000200\n",
}
EXPECTED_RATINGS = pd.DataFrame({
    "user_id": pd.array([1, 2, 1], dtype="int64"),
    "movie_id": pd.array([10, 20, 30], dtype="int64"),
    "rating": pd.array([5.0, 4.0, 1.0], dtype="float32"),
    "ts": pd.array([900000000000, 900000100000, 900000200000], dtype="int64"),
})

_FLAGS_10 = "|".join("1" if g in (1, 5) else "0" for g in range(19))  # Action, Comedy
_FLAGS_20 = "|".join("1" if g == 0 else "0" for g in range(19))  # unknown
_FLAGS_30 = "|".join("1" if g == 8 else "0" for g in range(19))  # Drama
# The same three movies in each catalog format: (file name, text, encoding).
CATALOGS = {
    "u.item": (
        f"10|Café, The (1995)|01-Jan-1995||http://x|{_FLAGS_10}\n"
        f"20|Nameless|||http://y|{_FLAGS_20}\n"
        f'30|"Quoted" Story: Part II (1971)|01-Jan-1971||http://z|{_FLAGS_30}\n',
        "latin-1",
    ),
    "movies.dat": (
        "10::Café, The (1995)::Action|Comedy\n20::Nameless::unknown\n30::\"Quoted\" Story: Part II (1971)::Drama\n",
        "latin-1",
    ),
    "movies.csv": (
        'movieId,title,genres\n10,"Café, The (1995)",Action|Comedy\n20,Nameless,(no genres listed)\n'
        '30,"""Quoted"" Story: Part II (1971) ",Drama\n',
        "utf-8",
    ),
    "ml.item": (
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "10\tCafé, The\t1995\tAction Comedy\n20\tNameless\tunkonwn\tunknown\n"
        '30\t"Quoted" Story: Part II (1971)\tV\tDrama\n',
        "utf-8",
    ),
}
EXPECTED_CATALOG = pd.DataFrame({
    "movie_id": pd.array([10, 20, 30], dtype="int64"),
    "title": pd.array(["Café, The", "Nameless", '"Quoted" Story: Part II'], dtype=str),
    "genres": pd.array(["Action|Comedy", "", "Drama"], dtype=str),
    "year": pd.array([1995, None, 1971], dtype="Int64"),
})


@pytest.mark.parametrize("name", RATINGS)
def test_every_ratings_format_gives_the_same_frame(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text(RATINGS[name])
    assert find_ratings_file(tmp_path) == tmp_path / name
    pd.testing.assert_frame_equal(load_interactions(tmp_path), EXPECTED_RATINGS)


@pytest.mark.parametrize("name", CATALOGS)
def test_every_catalog_format_gives_the_same_frame(tmp_path: Path, name: str) -> None:
    text, encoding = CATALOGS[name]
    (tmp_path / name).write_bytes(text.encode(encoding))
    assert find_catalog_file(tmp_path) == tmp_path / name
    pd.testing.assert_frame_equal(load_catalog(tmp_path), EXPECTED_CATALOG)


def test_u_item_takes_genre_names_from_u_genre(tmp_path: Path) -> None:
    text, encoding = CATALOGS["u.item"]
    (tmp_path / "u.item").write_bytes(text.encode(encoding))
    names = ["unknown", *(f"G{i}" for i in range(1, 19))]
    (tmp_path / "u.genre").write_text("".join(f"{n}|{i}\n" for i, n in enumerate(names)) + "\n")
    assert load_catalog(tmp_path)["genres"].tolist() == ["G1|G5", "", "G8"]


def test_u_item_is_preferred_over_the_atomic_item_pattern(tmp_path: Path) -> None:
    for name in ("u.item", "ml.item"):
        text, encoding = CATALOGS[name]
        (tmp_path / name).write_bytes(text.encode(encoding))
    assert find_catalog_file(tmp_path).name == "u.item"


def test_unknown_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        find_ratings_file(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_catalog(tmp_path)
    (tmp_path / "tags.dat").write_text("1::2::x::3\n")
    with pytest.raises(ValueError, match="unsupported"):
        load_interactions(tmp_path / "tags.dat")


@pytest.mark.skipif(not ML100K.exists(), reason="ML-100K test copy not present")
def test_ml100k_atomic_copy() -> None:
    ratings = load_interactions(ML100K)
    assert (len(ratings), ratings["user_id"].nunique(), ratings["movie_id"].nunique()) == (100_000, 943, 1682)
    assert ratings["ts"].is_monotonic_increasing
    catalog = load_catalog(ML100K)
    assert len(catalog) == 1682 and catalog["movie_id"].is_unique
    toy_story = catalog.set_index("movie_id").loc[1]
    assert (toy_story["title"], toy_story["year"]) == ("Toy Story", 1995)
    assert toy_story["genres"] == "Animation|Children's|Comedy"
    assert not catalog["title"].str.contains(r"\(\d{4}\)$").any()
    assert set(ratings["movie_id"]) <= set(catalog["movie_id"])
