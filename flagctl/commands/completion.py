"""`flagctl completion SHELL`: the shell completion script (also what `make completions`
writes into completions/). Flag keys complete from the offline snapshot, with no network."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import output
from ..errors import UsageError

PROG = "flagctl"
COMPLETE_VAR = "_FLAGCTL_COMPLETE"  # what flagctl.app.main answers to
SHELLS = ("bash", "zsh", "fish")


def register(app: typer.Typer) -> None:
    app.command()(completion)


def script(shell: str) -> str:
    from typer.completion import get_completion_script

    return get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell) + "\n"


def completion(
    # A plain string, checked here: a choice type would report an unknown shell through
    # Typer's Pydantic validation, in Pydantic's words, after importing it (~100 ms).
    shell: Annotated[
        str,
        typer.Argument(
            metavar="SHELL",
            help="bash, zsh or fish.",
            show_default=False,
            autocompletion=lambda: list(SHELLS),
        ),
    ],
) -> None:
    """Print the shell completion script.

    \b
    bash:  flagctl completion bash > ~/.local/share/bash-completion/completions/flagctl
    zsh:   flagctl completion zsh > "${fpath[1]}/_flagctl"
    fish:  flagctl completion fish > ~/.config/fish/completions/flagctl.fish
    """
    if shell not in SHELLS:
        raise UsageError(
            f"no completion for shell {shell!r}: use {', '.join(SHELLS[:-1])} or {SHELLS[-1]} "
            "(see 'flagctl completion --help')"
        )
    output.write_text(script(shell))
