"""`flagctl version` (and `flagctl --version`)."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import output


def register(app: typer.Typer) -> None:
    app.command("version")(version)


def text() -> str:
    from flagd import __version__

    return f"flagctl {__version__}\n"


def version(json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print flagctl's version."""
    from flagd import __version__

    if json:
        output.print_json({"version": __version__})
    else:
        output.write_text(text())
