"""Project subcommands as plain click commands around a coroutine: clear errors, no tracebacks.

Faust's ``@app.command`` runs a command inside a worker service, which logs any exception
with a traceback and still exits 0; these commands run the coroutine with ``asyncio.run``,
so a ``click.ClickException`` prints one ``Error:`` line and exits 1, an unreachable broker
names its address, and a closed pipe (``| head``) ends the command quietly.
"""
from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import click
from faust.cli.faust import cli

from app.kafka_errors import kafka_errors
from app.settings import get_settings


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a command's coroutine; Kafka being unreachable becomes a one-line error."""
    with kafka_errors(get_settings()):
        return asyncio.run(coro)


def async_command(*options: Callable[[Any], Any], group: click.Group = cli) -> Callable[[Any], Any]:
    """Register ``async def fn(**options)`` as the subcommand ``fn.__name__`` of ``group``."""
    def register(fn: Callable[..., Coroutine[Any, Any, Any]]) -> click.Command:
        @functools.wraps(fn)
        def command(**kwargs: Any) -> None:
            try:
                run(fn(**kwargs))
                sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
            except BrokenPipeError:
                # The reader went away (`| head`): stop writing, and keep Python's exit-time
                # flush from raising the same error again.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        for option in reversed(options):
            command = option(command)
        return group.command(fn.__name__.replace("_", "-"), help=fn.__doc__)(command)
    return register
