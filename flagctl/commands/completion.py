"""`flagctl completion SHELL`: the shell completion script (also what `make completions`
writes into completions/). Flag keys complete from the offline snapshot, with no network."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from .. import output

PROG = "flagctl"
COMPLETE_VAR = "_FLAGCTL_COMPLETE"  # what flagctl.app.main answers to


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def register(app: typer.Typer) -> None:
    app.command()(completion)


def script(shell: str) -> str:
    from typer.completion import get_completion_script

    return get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell) + "\n"


def completion(
    shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.", show_default=False)],
) -> None:
    """Print the shell completion script.

    \b
    bash:  flagctl completion bash > ~/.local/share/bash-completion/completions/flagctl
    zsh:   flagctl completion zsh > "${fpath[1]}/_flagctl"
    fish:  flagctl completion fish > ~/.config/fish/completions/flagctl.fish
    """
    output.write_text(script(shell.value))
