"""The only place that prints: data to stdout, messages to stderr.

Data is a Rich table on a terminal and plain tab-separated lines when piped (stable for
`cut` and `awk`); `--json` everywhere for scripts. Rich is imported only when a terminal
will actually show it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from .importplan import Plan
    from .watcher import WatchState


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _colour() -> bool:
    return sys.stderr.isatty() and not os.environ.get("NO_COLOR")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def print_json_line(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def write_text(text: str) -> None:
    sys.stdout.write(text)


def message(text: str) -> None:
    """A message for the person at the terminal (stderr, never mixed into data)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def error(text: str) -> None:
    prefix = "\x1b[1;31mflagctl:\x1b[0m" if _colour() else "flagctl:"
    sys.stderr.write(f"{prefix} {text}\n")
    sys.stderr.flush()


def confirm(question: str) -> bool:
    """Ask on stderr, answer on stdin; only ever called with a terminal on stdin."""
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


# --- flags ------------------------------------------------------------------------------


def state_word(flag: dict[str, Any]) -> str:
    return "on" if flag["enabled"] else "off"


def summary(flag: dict[str, Any]) -> str:
    """`on, rollout 25%, 2 targets`: one flag in a message."""
    targets = len(flag["targeted_users"])
    plural = "" if targets == 1 else "s"
    return f"{state_word(flag)}, rollout {flag['rollout_percentage']}%, {targets} target{plural}"


def ago(timestamp: str, now: datetime | None = None) -> str:
    """`12s ago`, `5m ago`, `3h ago`, `4d ago` for an RFC 3339 time from flagd."""
    from datetime import UTC, datetime

    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return timestamp
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def age_words(seconds: float) -> str:
    seconds = int(seconds)
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size or size == 1:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "0 seconds"  # pragma: no cover


def print_flags(flags: Sequence[dict[str, Any]]) -> None:
    """A Rich table on a terminal, plain tab-separated lines when piped."""
    if not stdout_is_terminal():
        for flag in flags:
            sys.stdout.write(
                f"{flag['key']}\t{state_word(flag)}\t{flag['rollout_percentage']}\t"
                f"{len(flag['targeted_users'])}\t{flag['updated_at']}\n"
            )
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not flags:
        console.print("[dim]no flags yet: create one with[/] flagctl create KEY")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("KEY", overflow="fold", ratio=3)
    table.add_column("STATE", no_wrap=True)
    table.add_column("ROLLOUT", justify="right", no_wrap=True)
    table.add_column("TARGETS", justify="right", no_wrap=True)
    table.add_column("UPDATED", no_wrap=True)
    for flag in flags:
        table.add_row(
            flag["key"],
            "[green]on[/]" if flag["enabled"] else "[dim]off[/]",
            f"{flag['rollout_percentage']}%",
            str(len(flag["targeted_users"])),
            ago(flag["updated_at"]),
        )
    console.print(table)


def print_flag(flag: dict[str, Any]) -> None:
    """One flag, field by field: `name: value` lines when piped."""
    targets = flag["targeted_users"]
    rows = [
        ("key", flag["key"]),
        ("description", flag["description"]),
        ("state", state_word(flag)),
        ("rollout", f"{flag['rollout_percentage']}%"),
        ("targets", ", ".join(targets) if targets else "(none)"),
        ("version", str(flag["version"])),
        ("id", flag["id"]),
        ("created", flag["created_at"]),
        ("updated", flag["updated_at"]),
    ]
    if not stdout_is_terminal():
        sys.stdout.writelines(f"{name}: {value}\n" for name, value in rows)
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in rows:
        if name == "state":
            table.add_row(name, Text(value, style="green" if flag["enabled"] else "dim"))
        elif name == "updated":
            table.add_row(name, f"{value} ({ago(value)})")
        else:
            table.add_row(name, Text(value))
    Console().print(table)


# --- eval -------------------------------------------------------------------------------


def print_evaluations(results: Sequence[tuple[str, Any]], explain: bool) -> None:
    """KEY / RESULT [/ REASON / BUCKET] in aligned columns; no Rich, so eval stays fast."""
    header = ["KEY", "RESULT", "REASON", "BUCKET"] if explain else ["KEY", "RESULT"]
    rows = [
        [key, "on" if ev.enabled else "off"]
        + ([ev.reason, "-" if ev.bucket is None else str(ev.bucket)] if explain else [])
        for key, ev in results
    ]
    if not stdout_is_terminal():
        sys.stdout.writelines("\t".join(row) + "\n" for row in rows)
        return
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    colour = not os.environ.get("NO_COLOR")
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    if colour:
        lines[0] = f"\x1b[1m{lines[0]}\x1b[0m"
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        if colour:
            style = "32" if row[1] == "on" else "2"
            cells[1] = f"\x1b[{style}m{cells[1]}\x1b[0m"
        lines.append("  ".join(cells).rstrip())
    sys.stdout.write("\n".join(lines) + "\n")


# --- import -----------------------------------------------------------------------------


def print_plan(plan: Plan, dry_run: bool) -> None:
    """The plan of an import, as a diff: `+ create`, `~ update`, `- delete`."""
    lines = [f"+ create {f['key']} ({summary_fields(f)})" for f in plan.create]
    lines += [f"~ update {key}: {change}" for key, _flag, change in plan.update]
    lines += [f"- delete {key}" for key in plan.delete]
    for line in lines:
        sys.stdout.write(line + "\n")
    counts = (
        f"{len(plan.create)} to create, {len(plan.update)} to update, "
        f"{len(plan.delete)} to delete, {plan.unchanged} unchanged"
    )
    if plan.kept:
        counts += f", {len(plan.kept)} only on the server (kept; --prune deletes them)"
    message(f"plan: {counts}" + (" (dry run: nothing changed)" if dry_run else ""))


def summary_fields(flag: dict[str, Any]) -> str:
    full = {"enabled": False, "rollout_percentage": 0, "targeted_users": [], **flag}
    return summary(full)


# --- watch ------------------------------------------------------------------------------


def print_watch_line(record: dict[str, Any]) -> None:
    """One event as a plain line, for `flagctl watch | grep …` without --json."""
    event, revision = record["event"], record["revision"]
    if event == "snapshot":
        line = f"{revision}\tsnapshot\t{len(record['flags'])} flags"
    elif event == "flag_updated":
        flag = record["flag"]
        line = f"{revision}\tupdated\t{flag['key']}\t{summary(flag)}"
    else:
        line = f"{revision}\tdeleted\t{record['key']}"
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@contextmanager
def live_watch(state: WatchState) -> Iterator[Any]:
    """The full-screen view; the alternate screen and the cursor are restored on any exit."""
    from rich.console import Console
    from rich.live import Live

    from .watchview import WatchView

    console = Console()
    view = WatchView(state)
    with Live(
        view,
        console=console,
        screen=True,
        auto_refresh=True,
        refresh_per_second=4,
        redirect_stdout=False,
        redirect_stderr=False,
    ) as live:
        yield live
