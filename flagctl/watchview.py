"""The screen of `flagctl watch`: a header with the connection state, a table of flags with
what just changed highlighted, a footer. Re-rendered by Rich Live several times a second,
so relative times stay current; columns drop out as the terminal narrows."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

from .output import ago
from .watcher import HIGHLIGHT_SECONDS, WatchState

HEADER_LINES = 3  # status line, last-change line, table header
FOOTER_LINES = 1


class WatchView:
    def __init__(self, state: WatchState) -> None:
        self.state = state

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        now = time.monotonic()
        state = self.state
        state.expire(now)
        with state.lock:
            width = options.max_width
            height = options.height or console.size.height
            rows = list(state.flags.items()) + [(k, f) for k, f in state.gone.items()]
            rows.sort(key=lambda item: item[0])
            status = self._status(now, width)
            last = self._last_change(now)
            room = max(1, height - HEADER_LINES - FOOTER_LINES)
            hidden = max(0, len(rows) - room)
            if hidden:
                rows, hidden = rows[: room - 1], hidden + 1
            table = self._table(rows, width, now)
            footer = Text(
                (f"… {hidden} more: enlarge the terminal   " if hidden else "") + "Ctrl-C to quit",
                style="dim",
                no_wrap=True,
                overflow="ellipsis",
            )
        yield Group(status, last, table, footer)

    def _status(self, now: float, width: int) -> Text:
        state, status = self.state, self.state.status
        text = Text(no_wrap=True, overflow="ellipsis")
        if status.state == "connected":
            text.append("● connected", style="bold green")
        elif status.state == "reconnecting":
            wait = max(0.0, (status.retry_at or now) - now)
            text.append(f"○ reconnecting in {wait:.0f}s", style="bold yellow")
            text.append(f" (attempt {status.attempt})", style="yellow")
        else:
            text.append("○ connecting", style="bold yellow")
        revision = "-" if state.revision is None else str(state.revision)
        text.append(f"  revision {revision}", style="bold")
        text.append(f"  {len(state.flags)} flags  ")
        text.append(state.server, style="dim")
        if status.state != "connected" and status.detail and width >= 60:
            text.append(f"  {status.detail}", style="yellow")
        return text

    def _last_change(self, now: float) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.state.last_change is None:
            text.append("waiting for changes…", style="dim")
            return text
        key, change = self.state.last_change
        text.append("last change: ", style="dim")
        text.append(key, style="bold")
        text.append(f" {change.summary}")
        text.append(f"  {int(now - change.at)}s ago", style="dim")
        return text

    def _table(self, rows: list[tuple[str, dict[str, Any]]], width: int, now: float) -> Table:
        wide, medium = width >= 72, width >= 46
        table = Table(
            box=None,
            header_style="bold",
            pad_edge=False,
            expand=False,
            show_edge=False,
            collapse_padding=True,
        )
        table.add_column("", width=1, no_wrap=True)
        table.add_column("KEY", overflow="ellipsis", no_wrap=True, min_width=8, ratio=1)
        table.add_column("STATE", no_wrap=True)
        if medium:
            table.add_column("ROLLOUT", justify="right", no_wrap=True)
        if wide:
            table.add_column("TARGETS", justify="right", no_wrap=True)
        table.add_column("LAST CHANGE", no_wrap=True, overflow="ellipsis")
        for key, flag in rows:
            change = self.state.changes.get(key)
            fresh = change is not None and now - change.at <= HIGHLIGHT_SECONDS
            deleted = key in self.state.gone
            if deleted:
                state_cell = Text("deleted", style="red")
            else:
                state_cell = Text("on", style="green") if flag["enabled"] else Text("off", "dim")
            cells: list[Any] = [Text("●" if fresh else " ", style="yellow"), key, state_cell]
            if medium:
                cells.append(f"{flag['rollout_percentage']}%")
            if wide:
                cells.append(str(len(flag["targeted_users"])))
            cells.append(change.summary if fresh and change else ago(flag["updated_at"]))
            style = "reverse" if fresh and not deleted else ("strike dim" if deleted else "")
            table.add_row(*cells, style=style)
        if not rows:
            table.add_row("", Text("no flags yet", style="dim"), "")
        return table
