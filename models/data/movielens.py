"""Read MovieLens ratings and catalogs into one frame layout, whatever the release's format.

Every loader returns interactions with the columns ``user_id`` (int64), ``movie_id`` (int64),
``rating`` (float32) and ``ts`` (int64, epoch milliseconds), sorted by ``ts``; catalogs have
``movie_id`` (int64), ``title`` (str), ``genres`` (str) and ``year`` (nullable Int64), sorted
by ``movie_id``.

Catalog conventions, the same for every release: ``genres`` is the release's genre names
joined with ``|`` (``""`` when a movie has none; the placeholders "unknown" and
"(no genres listed)" count as none), and a trailing year such as " (1995)" is cut from the
title and kept in ``year``, so the same movie reads alike from ``u.item`` and RecBole's
``.item`` (which stores the year apart).

Each file format is one row of a table (:data:`RATINGS_LAYOUTS`, :data:`CATALOG_LAYOUTS`)
read by the same code, so a new release is a new row rather than a new reader.
"""
from __future__ import annotations

import csv
import fnmatch
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

INTERACTION_COLUMNS = ["user_id", "movie_id", "rating", "ts"]
CATALOG_COLUMNS = ["movie_id", "title", "genres", "year"]

# The 19 genre flags of ML-100K's u.item in file order, used when u.genre is missing.
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
_NO_GENRE = {"", "unknown", "(no genres listed)"}
_TITLE_YEAR = r"\s*\((\d{4})(?:\s*[-\u2013]\s*\d{0,4})?\)\s*$"


@dataclass(frozen=True)
class Layout:
    """How one MovieLens file lays out its fields."""

    sep: str
    fields: Mapping[str, str] | Sequence[str | None]
    """Header name -> our name when the file has a header; else our name per position (None skips)."""
    quoting: int = csv.QUOTE_NONE
    genre_sep: str = "|"
    """Separator of the genre names inside the ``genres`` field."""

    def read(self, source: Path | io.StringIO) -> pd.DataFrame:
        """The file's fields under our names (a multi-character ``sep`` needs pandas' python engine)."""
        engine = "python" if len(self.sep) > 1 else "c"
        options = dict(sep=self.sep, quoting=self.quoting, engine=engine)
        if isinstance(self.fields, Mapping):
            # RecBole headers carry a type suffix ("item_id:token"); csv headers carry none.
            frame = pd.read_csv(source, **options)
            frame.columns = [str(c).split(":")[0] for c in frame.columns]
            return frame.rename(columns=dict(self.fields))[list(self.fields.values())]
        names = [name or f"_skip{i}" for i, name in enumerate(self.fields)]
        keep = [name for name in self.fields if name]
        return pd.read_csv(source, header=None, names=names, usecols=keep, **options)[keep]


RATINGS_LAYOUTS: dict[str, Layout] = {
    "*.inter": Layout("\t", {"user_id": "user_id", "item_id": "movie_id", "rating": "rating", "timestamp": "ts"}),
    "*.data": Layout("\t", ("user_id", "movie_id", "rating", "ts")),
    # "a::b" split on ":" gives empty fields between the values and keeps pandas' fast C parser.
    "ratings.dat": Layout(":", ("user_id", None, "movie_id", None, "rating", None, "ts")),
    "ratings.csv": Layout(",", {"userId": "user_id", "movieId": "movie_id", "rating": "rating", "timestamp": "ts"}),
}
"""Ratings formats by file name, in order of preference; every timestamp is in epoch seconds."""

CATALOG_LAYOUTS: dict[str, Layout] = {
    "u.item": Layout("|", ("movie_id", "title", None, None, None, *ML100K_GENRES)),
    "movies.dat": Layout("::", ("movie_id", "title", "genres")),
    "movies.csv": Layout(",", {"movieId": "movie_id", "title": "title", "genres": "genres"}, csv.QUOTE_MINIMAL),
    # After u.item, which this pattern also matches.
    "*.item": Layout(
        "\t", {"item_id": "movie_id", "movie_title": "title", "release_year": "year", "class": "genres"},
        genre_sep=" ",
    ),
}
"""Catalog formats by file name, in order of preference."""


def _find(folder: Path, layouts: Mapping[str, Layout], what: str) -> Path:
    for pattern in layouts:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    raise FileNotFoundError(f"no MovieLens {what} file ({', '.join(layouts)}) in {folder}")


def _layout(path: Path, layouts: Mapping[str, Layout], what: str) -> Layout:
    for pattern, layout in layouts.items():
        if fnmatch.fnmatch(path.name, pattern):
            return layout
    raise ValueError(f"unsupported MovieLens {what} file: {path.name}")


def _normalise(frame: pd.DataFrame, ts_unit_ms: int) -> pd.DataFrame:
    frame = frame.astype({"user_id": "int64", "movie_id": "int64", "rating": "float32"})
    frame["ts"] = (frame["ts"].astype("float64") * ts_unit_ms).astype("int64")
    return frame.sort_values(["ts", "user_id", "movie_id"], kind="stable").reset_index(drop=True)


def find_ratings_file(folder: Path) -> Path:
    """The ratings file of a MovieLens folder, in order of preference."""
    return _find(Path(folder), RATINGS_LAYOUTS, "ratings")


def load_interactions(path: str | Path) -> pd.DataFrame:
    """Load the ratings of a MovieLens folder or file into the common interaction frame."""
    path = Path(path)
    if path.is_dir():
        path = find_ratings_file(path)
    frame = _layout(path, RATINGS_LAYOUTS, "ratings").read(path)
    return _normalise(frame[INTERACTION_COLUMNS], 1000)


def find_catalog_file(folder: Path) -> Path:
    """The movie catalog file of a MovieLens folder, in order of preference."""
    return _find(Path(folder), CATALOG_LAYOUTS, "catalog")


def _decode(data: bytes) -> str:
    # Older releases (u.item, ML-1M movies.dat) are latin-1, newer ones UTF-8; latin-1 text
    # is practically never valid UTF-8, so trying UTF-8 first tells them apart.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _u_genre_names(folder: Path) -> list[str]:
    """ML-100K's genre names from u.genre ("name|index" lines), else the standard ones."""
    path = folder / "u.genre"
    if not path.exists():
        return list(ML100K_GENRES)
    lines = [line.rsplit("|", 1)[0] for line in _decode(path.read_bytes()).splitlines() if line.strip()]
    return lines if len(lines) == len(ML100K_GENRES) else list(ML100K_GENRES)


def _join_genres(names: Sequence[str]) -> str:
    return "|".join(name for name in names if name not in _NO_GENRE)


def load_catalog(path: str | Path) -> pd.DataFrame:
    """Load the movies of a MovieLens folder or file into the common catalog frame."""
    path = Path(path)
    if path.is_dir():
        path = find_catalog_file(path)
    layout = _layout(path, CATALOG_LAYOUTS, "catalog")
    frame = layout.read(io.StringIO(_decode(path.read_bytes())))
    if "genres" in frame:
        split = frame["genres"].fillna("").astype(str).str.split(layout.genre_sep, regex=False)
        genres = [_join_genres(names) for names in split]
    else:  # u.item: one 0/1 flag column per genre
        flags = frame[list(ML100K_GENRES)].to_numpy(dtype=bool)
        names = np.array(_u_genre_names(path.parent), dtype=object)
        genres = [_join_genres(names[row]) for row in flags]
    titles = frame["title"].fillna("").astype(str)
    title_year = pd.to_numeric(titles.str.extract(_TITLE_YEAR, expand=False), errors="coerce")
    year = pd.to_numeric(frame["year"], errors="coerce") if "year" in frame else title_year
    catalog = pd.DataFrame({
        "movie_id": frame["movie_id"].astype("int64"),
        "title": titles.str.replace(_TITLE_YEAR, "", regex=True).str.strip().astype(str),
        "genres": pd.Series(genres, index=frame.index, dtype=str),
        "year": year.fillna(title_year).round().astype("Int64"),
    })
    return catalog.sort_values("movie_id", kind="stable").reset_index(drop=True)
