"""The ``movie-recs`` command: Faust's CLI for the app, plus the project's own subcommands."""
from __future__ import annotations

import sys

from app import app
from app.kafka_security import KafkaAccessError, check_brokers
from app.settings import get_settings

PROBED = {"worker", "topics"}
"""Subcommands that check the brokers accept them before anything else (``check_brokers``)."""


def main() -> None:
    """Entry point of the console script; ``movie-recs worker`` starts a worker."""
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    if command in PROBED and "--help" not in sys.argv:
        try:
            check_brokers(get_settings())
        except KafkaAccessError as exc:
            sys.exit(f"movie-recs {command}: {exc}")
    app.main()


if __name__ == "__main__":
    main()
