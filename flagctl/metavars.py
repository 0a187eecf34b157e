"""Arguments in help and usage read as names (`KEY`, `[USER]`, `FLAG...`), not as Typer
shows them: `KEY <str>` and `FLAG <list[str]>` in help, `{KEY}` in the usage line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _commands(command: Any) -> Iterator[Any]:
    yield command
    for sub in getattr(command, "commands", {}).values():
        yield from _commands(sub)


def _plain(argument: Any) -> None:
    name = argument.metavar or argument.name.upper()
    more = "..." if argument.nargs != 1 else ""
    usage = f"{name}{more}" if argument.required else f"[{name}]{more}"
    typer_record = argument.get_help_record

    def help_record(ctx: Any) -> tuple[str, str] | None:
        record = typer_record(ctx)
        return None if record is None else (f"{name}{more}", record[1])

    argument.get_usage_pieces = lambda ctx: [usage]
    argument.get_help_record = help_record


def plain_arguments(command: Any) -> None:
    for each in _commands(command):
        for param in each.params:
            if param.param_type_name == "argument":
                _plain(param)
