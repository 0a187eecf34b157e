"""`flagctl config`: the config file's profiles, and where each setting comes from."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .. import output
from ..errors import CliError, UsageError
from ..options import AdminKey, Json, Profile, SdkKey, Server, connect

config_app = typer.Typer(
    help="Show or save connection settings (profiles).",
    no_args_is_help=True,
)

Name = Annotated[
    str,
    typer.Argument(
        metavar="NAME",
        show_default=False,
        help="server, admin_key or sdk_key.",
        autocompletion=lambda: ["server", "admin_key", "sdk_key"],
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


def _check_name(name: str) -> str:
    from ..config import SETTINGS

    name = name.replace("-", "_")
    if name not in SETTINGS:
        raise UsageError(f"unknown setting {name!r}: use one of {', '.join(SETTINGS)}")
    return name


def _profile_name(profile: str | None) -> str:
    import os

    from ..config import DEFAULT_PROFILE, PROFILE_ENV, check_profile_name

    return check_profile_name(profile or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE)


@config_app.command("set")
def set_value(
    name: Name,
    value: Annotated[
        str | None,
        typer.Argument(
            metavar="VALUE",
            show_default=False,
            help="The value; for a key, leave it out to type it hidden (or pipe it in).",
        ),
    ] = None,
    profile: Profile = None,
) -> None:
    """Save a setting in a profile (created if new).

    \b
    flagctl config set server https://flags.example.com --profile prod
    flagctl config set admin_key --profile prod      # asks, without echo
    """
    from ..config import read_profiles, write_profiles

    name, profile_name = _check_name(name), _profile_name(profile)
    if value is None:
        value = _read_secret(name)
    if not value:
        raise UsageError(f"empty value for {name}; use `flagctl config unset {name}` to remove it")
    profiles = read_profiles()
    profiles.setdefault(profile_name, {})[name] = value
    path = write_profiles(profiles)
    shown = value if name == "server" else _mask(value)
    output.message(f"saved {name} = {shown} in profile {profile_name!r} ({path})")


def _read_secret(name: str) -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"{name}: ").strip()
    line = sys.stdin.readline().strip()
    if not line:
        raise UsageError(f"no value for {name}: give it as an argument or on stdin")
    return line


def _mask(value: str | None) -> str:
    from ..config import mask

    return mask(value)


@config_app.command("unset")
def unset_value(name: Name, profile: Profile = None) -> None:
    """Remove a setting from a profile."""
    from ..config import read_profiles, write_profiles

    name, profile_name = _check_name(name), _profile_name(profile)
    profiles = read_profiles()
    if name not in profiles.get(profile_name, {}):
        raise CliError(f"{name} is not set in profile {profile_name!r}")
    del profiles[profile_name][name]
    path = write_profiles(profiles)
    output.message(f"removed {name} from profile {profile_name!r} ({path})")


@config_app.command("show")
def show(
    json: Json = False,
    server: Server = None,
    admin_key: AdminKey = None,
    sdk_key: SdkKey = None,
    profile: Profile = None,
) -> None:
    """Show the settings in effect, where each comes from, and the profiles (keys masked)."""
    from ..config import config_path, read_profiles

    connection = connect(server, admin_key, sdk_key, profile)
    path = config_path()
    profiles = read_profiles(path)
    settings = {
        "server": {"value": connection.server, "source": connection.source("server")},
        "admin_key": {
            "value": _mask(connection.admin_key),
            "source": connection.source("admin_key"),
        },
        "sdk_key": {"value": _mask(connection.sdk_key), "source": connection.source("sdk_key")},
    }
    masked_profiles = {
        name: {k: (v if k == "server" else _mask(v)) for k, v in values.items()}
        for name, values in profiles.items()
    }
    if json:
        output.print_json(
            {
                "profile": connection.profile,
                "config_file": str(path),
                **settings,
                "profiles": masked_profiles,
            }
        )
        return
    lines = [f"profile    {connection.profile}", f"config     {path}"]
    lines += [f"{name:<10} {item['value']}  ({item['source']})" for name, item in settings.items()]
    for name, values in masked_profiles.items():
        lines.append(f"[{name}] " + (", ".join(f"{k}={v}" for k, v in values.items()) or "empty"))
    output.write_text("\n".join(lines) + "\n")


@config_app.command("path")
def path() -> None:
    """Print where the config file is."""
    from ..config import config_path

    output.write_text(f"{config_path()}\n")
