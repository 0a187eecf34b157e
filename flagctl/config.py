"""Where the server is and which keys to use.

Each setting comes from the first of: the command-line option, the environment
(FLAGCTL_SERVER, FLAGCTL_ADMIN_KEY, FLAGCTL_SDK_KEY), the profile in the config file
(`--profile NAME`, FLAGCTL_PROFILE, else "default"), a flagd running on this machine (its
runtime file and generated keys in the flagd state directory), the built-in default.

The runtime file counts only while the flagd it names is running: after a crash or a
kill it would name a dead port (or another program's).

A key from a profile or from the local flagd is only sent to the server it was configured
with: pointing `--server` elsewhere never leaks the local admin key to another host.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CliError, UsageError

DEFAULT_SERVER = "http://127.0.0.1:8080"
DEFAULT_PROFILE = "default"
SETTINGS = ("server", "admin_key", "sdk_key")
ENV = {"server": "FLAGCTL_SERVER", "admin_key": "FLAGCTL_ADMIN_KEY", "sdk_key": "FLAGCTL_SDK_KEY"}
OPTION = {"server": "--server", "admin_key": "--admin-key", "sdk_key": "--sdk-key"}
PROFILE_ENV = "FLAGCTL_PROFILE"
_PROFILE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Connection:
    server: str
    admin_key: str | None = field(default=None, repr=False)
    sdk_key: str | None = field(default=None, repr=False)
    # setting name → where its value came from, for `config show` and error messages
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    profile: str = DEFAULT_PROFILE
    # Why a command that cannot connect may have failed, when the server is the default.
    hint: str | None = field(default=None, compare=False)

    def source(self, name: str) -> str:
        return self.sources.get(name, "not set")


@dataclass(frozen=True)
class _Layer:
    values: dict[str, str]
    source: str


def flagd_state_dir() -> Path:
    if os.environ.get("FLAGD_DATA_DIR"):
        return Path(os.environ["FLAGD_DATA_DIR"])
    from platformdirs import user_data_dir

    return Path(user_data_dir("flagd", appauthor=False))


def config_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("flagctl", appauthor=False)) / "config.toml"


def _read_json(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str) and v}


def read_profiles(path: Path | None = None) -> dict[str, dict[str, str]]:
    """Every profile in the config file: {name: {setting: value}}; {} when there is none."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CliError(f"cannot read the config file {path}: {exc.strerror}") from None
    import tomllib

    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"the config file {path} is not valid TOML: {exc}") from None
    return {
        name: {k: str(v) for k, v in table.items() if k in SETTINGS and v}
        for name, table in document.items()
        if isinstance(table, dict)
    }


def write_profiles(profiles: dict[str, dict[str, str]], path: Path | None = None) -> Path:
    """Flat TOML tables, one per profile; atomic and mode 0600 because keys are secrets."""
    import tempfile

    path = path or config_path()
    lines = ["# flagctl configuration, managed by `flagctl config set`. Keys are secrets."]
    for name in sorted(profiles, key=lambda n: (n != DEFAULT_PROFILE, n)):
        if not profiles[name]:
            continue
        lines += ["", f"[{name}]"]
        # A JSON string is a valid TOML basic string (same escapes, \uXXXX included).
        lines += [f"{k} = {json.dumps(v)}" for k, v in profiles[name].items() if k in SETTINGS]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_profile_name(name: str) -> str:
    if not _PROFILE_RE.fullmatch(name):
        raise UsageError(f"invalid profile name {name!r}: use letters, digits, '-' and '_'")
    return name


def _profile_layer(profile: str | None) -> tuple[str, _Layer | None]:
    explicit = profile or os.environ.get(PROFILE_ENV) or None
    name = check_profile_name(explicit or DEFAULT_PROFILE)
    path = config_path()
    values = read_profiles(path).get(name)
    if values is None:
        if explicit:
            raise CliError(
                f"no profile {name!r} in {path}: create it with "
                f"`flagctl config set server URL --profile {name}`"
            )
        return name, None
    return name, _Layer(values, f"profile {name!r} ({path})")


def _local_layer() -> tuple[_Layer | None, str | None]:
    """The local flagd's server and keys, and a hint when its runtime file is stale."""
    state_dir = flagd_state_dir()
    runtime_file = state_dir / "flagd.json"
    runtime = _read_json(runtime_file)
    keys = _read_json(state_dir / "keys.json")
    values, hint = {}, None
    if runtime.get("url") and not _pid_running(runtime.get("pid")):
        hint = (
            f"{runtime_file} names flagd pid {runtime['pid']}, which is not running: "
            "start flagd, or pass --server"
        )
    elif runtime.get("url"):
        values["server"] = runtime["url"]
    if keys.get("admin_api_key"):
        values["admin_key"] = keys["admin_api_key"]
    if keys.get("sdk_api_key"):
        values["sdk_key"] = keys["sdk_api_key"]
    return (_Layer(values, f"local flagd ({state_dir})") if values else None), hint


def _pid_running(pid: str | None) -> bool:
    """False only when the process is known to be gone; a pid we cannot check counts."""
    try:
        number = int(pid or "")
    except ValueError:
        return True
    if number <= 0:
        return True
    try:
        os.kill(number, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user (systemd's DynamicUser)
        return True
    return True


def resolve(
    server: str | None = None,
    admin_key: str | None = None,
    sdk_key: str | None = None,
    profile: str | None = None,
) -> Connection:
    given = {"server": server, "admin_key": admin_key, "sdk_key": sdk_key}
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for name in SETTINGS:
        if given[name]:
            values[name], sources[name] = str(given[name]), OPTION[name]
        elif os.environ.get(ENV[name]):
            values[name], sources[name] = os.environ[ENV[name]], ENV[name]
    profile_name, profile_layer = _profile_layer(profile)
    local_layer, local_hint = _local_layer()
    layers = [layer for layer in (profile_layer, local_layer) if layer is not None]
    hint = None
    if "server" not in values:
        for layer in layers:
            if layer.values.get("server"):
                values["server"], sources["server"] = layer.values["server"], layer.source
                break
        else:
            values["server"], sources["server"] = DEFAULT_SERVER, "built-in default"
            hint = local_hint
    resolved_server = _normalise(values["server"])
    for name in ("admin_key", "sdk_key"):
        if name in values:
            continue
        for layer in layers:
            layer_server = layer.values.get("server")
            if layer_server and _normalise(layer_server) != resolved_server:
                continue  # keys go only to the server they were configured for
            if layer.values.get(name):
                values[name], sources[name] = layer.values[name], layer.source
                break
    return Connection(
        server=resolved_server,
        admin_key=values.get("admin_key"),
        sdk_key=values.get("sdk_key"),
        sources=sources,
        profile=profile_name,
        hint=hint,
    )


def _normalise(server: str) -> str:
    server = server.strip().rstrip("/")
    if "://" not in server:
        server = "http://" + server
    return server


def mask(secret: str | None) -> str:
    """Enough to tell two keys apart, never enough to use one."""
    if not secret:
        return "(not set)"
    if len(secret) <= 8:
        return "****"
    return f"****{secret[-4:]}"
