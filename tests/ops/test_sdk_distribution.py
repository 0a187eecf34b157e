"""The SDK installs alone: flagd-sdk's wheel into an empty virtual environment pulls only
what the SDK needs, brings no commands, and runs the README's example against a real flagd.

Its dependencies come from the package index, as for any user, so this needs the index.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import venv
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.daemon import SDK_KEY, Flagd

# What an application that only evaluates flags must not be made to install.
SERVER_ONLY = {"asyncpg", "redis", "typer", "rich", "prometheus-client", "click", "pydantic"}
ALLOWED_TOP_LEVEL = {"aiohttp", "platformdirs"}


@pytest.fixture(scope="module")
def sdk_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty virtual environment with only the flagd-sdk wheel (built from this tree)."""
    work = tmp_path_factory.mktemp("sdk-only")
    wheels = work / "wheels"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(wheels),
            str(REPO / "sdk" / "python"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("flagd_sdk-*.whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return env_dir


def installed_names(env_dir: Path) -> set[str]:
    listing = subprocess.run(
        [
            str(env_dir / "bin" / "python"),
            "-m",
            "pip",
            "list",
            "--format=json",
            "--disable-pip-version-check",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {re.sub(r"[-_.]+", "-", item["name"]).lower() for item in json.loads(listing.stdout)}


def test_the_sdk_wheel_pulls_only_what_the_sdk_needs(sdk_venv: Path) -> None:
    names = installed_names(sdk_venv)
    assert "flagd-sdk" in names and "flagd" not in names
    assert not names & SERVER_ONLY, names & SERVER_ONLY
    assert names >= ALLOWED_TOP_LEVEL
    assert "fnv-hash-fast" not in names  # an optional speed-up: flagd-sdk[speedups]
    commands = {path.name for path in (sdk_venv / "bin").iterdir()}
    assert not commands & {"flagd", "flagctl"}, commands


def test_the_sdk_alone_imports_the_core_and_sdk_but_no_daemon(sdk_venv: Path) -> None:
    probe = (
        "import importlib.util, flagd.sdk, flagd.core\n"
        "from flagd.core import evaluation\n"
        "assert evaluation._fast_fnv1a32 is None  # the pure hash: no accelerator installed\n"
        "missing = [m for m in ('flagd.app', 'flagd.store', 'flagctl')"
        " if importlib.util.find_spec(m) is not None]\n"
        "assert not missing, missing\n"
        "print('ok')"
    )
    result = subprocess.run(
        [str(sdk_venv / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=sdk_venv,  # not the checkout: its flagd/ must not be what is imported
    )
    assert result.stdout.strip() == "ok", result.stdout + result.stderr


def readme_sdk_example() -> str:
    section = (REPO / "README.md").read_text().split("\n## Python SDK\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "the README's Python SDK section has no example"
    return str(blocks[0])


def test_the_readme_example_runs_against_a_real_flagd(
    sdk_venv: Path, tmp_path: Path, flagd: Flagd
) -> None:
    with flagd.admin() as admin:
        key = "new-checkout-flow"
        admin.delete(f"/api/admin/flags/{key}")
        created = admin.post(
            "/api/admin/flags", json={"key": key, "enabled": True, "rollout_percentage": 100}
        )
        assert created.status_code == 201, created.text
    example = readme_sdk_example()
    assert "http://127.0.0.1:8080" in example and "\n        ...\n" in example
    program = f"sdk_key = {SDK_KEY!r}\nuser_id = 'user-42'\n" + example.replace(
        "http://127.0.0.1:8080", flagd.url
    ).replace("\n        ...\n", "\n        print('new-checkout-flow is on')\n")
    script = tmp_path / "example.py"
    script.write_text(program)
    result = subprocess.run(
        [str(sdk_venv / "bin" / "python"), str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},  # its own cache directory
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "new-checkout-flow is on", result.stdout + result.stderr
    with flagd.admin() as admin:
        assert admin.delete(f"/api/admin/flags/{key}").status_code == 204
    assert httpx.get(flagd.url + "/health").status_code == 200
