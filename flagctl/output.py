"""The only place that prints: data to stdout, messages to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def print_flags(flags: list[dict[str, Any]]) -> None:
    """A Rich table on a terminal, plain tab-separated lines when piped."""
    if not sys.stdout.isatty():
        for flag in flags:
            state = "on" if flag["enabled"] else "off"
            line = f"{flag['key']}\t{state}\t{flag['rollout_percentage']}"
            sys.stdout.write(f"{line}\t{len(flag['targeted_users'])}\t{flag['updated_at']}\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("KEY", "STATE", "ROLLOUT", "TARGETS", "UPDATED"):
        table.add_column(column)
    for flag in flags:
        state = "[green]on[/]" if flag["enabled"] else "[dim]off[/]"
        table.add_row(
            flag["key"],
            state,
            f"{flag['rollout_percentage']}%",
            str(len(flag["targeted_users"])),
            flag["updated_at"],
        )
    Console().print(table)


def error(message: str) -> None:
    sys.stderr.write(f"flagctl: {message}\n")
