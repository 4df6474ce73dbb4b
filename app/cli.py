"""The ``movie-recs`` command: Faust's CLI for the app, plus the project's own subcommands."""
from __future__ import annotations

from app import app


def main() -> None:
    """Entry point of the console script; ``movie-recs worker`` starts a worker."""
    app.main()


if __name__ == "__main__":
    main()
