"""Shared helpers for the benchmarks: a real flagd, a throwaway database, seeding, notes.

Run the scripts from the repository root, e.g. `.venv/bin/python -m bench.client_flags`.
Everything targets 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import random
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.conftest import pg_admin_execute  # noqa: E402
from tests.daemon import Flagd  # noqa: E402 - also used by the scripts

PG_ADMIN_URL = os.environ.get("FLAGD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


# A benchmark stopped with SIGTERM (e.g. by `timeout`) still stops its flagd and drops its
# database: SystemExit unwinds through the context managers below.
signal.signal(signal.SIGTERM, _exit_on_sigterm)

# --- PostgreSQL -------------------------------------------------------------------------


def _pg_admin_execute(sql: str) -> None:
    pg_admin_execute(sql, PG_ADMIN_URL)


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; dropped (with its connections) afterwards."""
    name = f"flagd_bench_{uuid.uuid4().hex[:12]}"
    _pg_admin_execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- flagd ------------------------------------------------------------------------------


@contextlib.contextmanager
def run_flagd(
    store: str = "sqlite",
    access_log: bool = False,
    extra_env: dict[str, str] | None = None,
    data_dir: Path | None = None,
) -> Iterator[Flagd]:
    """A started flagd on `store` ("sqlite" or "postgres"), stopped and cleaned up afterwards.

    The log level stays `info` (the access log logs at info); the log goes to a file in the
    data dir, as in the test suite.
    """
    env = {"FLAGD_ACCESS_LOG": "true" if access_log else "false"}
    env.update(extra_env or {})
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="flagd-bench-")))
        database_url = stack.enter_context(pg_database()) if store == "postgres" else None
        daemon = Flagd(data_dir=data_dir, database_url=database_url, extra_env=env)
        try:
            daemon.start(timeout=30)  # inside the try: a failed start must not orphan flagd
            yield daemon
        finally:
            daemon.stop()


def log_errors(daemon: Flagd, limit: int = 5) -> list[str]:
    """Distinct error lines of the daemon's log (the exception's last line), for reports."""
    seen: dict[str, None] = {}
    for line in daemon.log().splitlines():
        if "level=error" not in line:
            continue
        exc = line.split(" exc=", 1)[-1].replace("\\n", "\n").strip().strip('"')
        seen.setdefault(exc.strip().splitlines()[-1][:300], None)
    return list(seen)[:limit]


# --- seeding ----------------------------------------------------------------------------

_WORDS = (
    "enable",
    "new",
    "checkout",
    "flow",
    "for",
    "beta",
    "users",
    "in",
    "eu",
    "region",
    "with",
    "dark",
    "mode",
    "banner",
    "search",
    "ranking",
    "experiment",
    "pricing",
    "page",
    "redesign",
    "mobile",
    "onboarding",
    "tour",
)


def _description(rng: random.Random) -> str:
    words: list[str] = []
    while len(" ".join(words)) < 40:
        words.append(rng.choice(_WORDS))
    return " ".join(words)[:40].strip().capitalize()


def flag_body(index: int, rng: random.Random) -> dict[str, Any]:
    """A realistic flag: ~40-char description, rollout 0-100, 0-5 targeted users."""
    users = [
        "user-" + "".join(rng.choices(string.ascii_lowercase + string.digits, k=10))
        for _ in range(rng.randint(0, 5))
    ]
    return {
        "key": f"bench-flag-{index:05d}",
        "description": _description(rng),
        "enabled": rng.random() < 0.5,
        "rollout_percentage": rng.randint(0, 100),
        "targeted_users": users,
    }


async def seed_flags_async(
    url: str, admin_key: str, count: int, concurrency: int = 16, seed: int = 42
) -> list[dict[str, Any]]:
    """Create `count` flags with concurrent posts; returns the created flags."""
    import httpx

    rng = random.Random(seed)
    bodies = [flag_body(i, rng) for i in range(count)]
    created: list[dict[str, Any]] = []
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async with httpx.AsyncClient(
        base_url=url,
        headers={"X-Admin-API-Key": admin_key},
        timeout=30,
        limits=httpx.Limits(max_connections=concurrency),
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                response = await client.post("/api/admin/flags", json=body)
                if response.status_code != 201:
                    raise RuntimeError(f"seed failed: {response.status_code} {response.text}")
                created.append(response.json())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return created


def seed_flags(daemon: Flagd, count: int, concurrency: int = 16) -> list[dict[str, Any]]:
    return asyncio.run(seed_flags_async(daemon.url, daemon.admin_key or "", count, concurrency))


# --- measurements -----------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def system_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def wait_for_quiet(
    max_wait: float = 180.0,
    window: float = 2.0,
    busy_below: float = 0.15,
    exclude: Sequence[int] = (),
) -> float:
    """Wait until the machine is nearly idle (other engineers' test runs share it).

    Idle means: over `window` seconds, the machine's busy CPU minus that of the `exclude`
    pids is below `busy_below` cores. Gives up after `max_wait` seconds and returns the
    last busy figure (cores), so a report can say the run was not on a quiet machine.
    """
    deadline = time.monotonic() + max_wait
    busy = 0.0
    announced = False
    while True:
        before = system_busy_seconds() - sum(_cpu_or_zero(pid) for pid in exclude)
        time.sleep(window)
        after = system_busy_seconds() - sum(_cpu_or_zero(pid) for pid in exclude)
        busy = (after - before) / window
        if busy < busy_below or time.monotonic() > deadline:
            return busy
        if not announced:
            print(f"  waiting for a quiet machine (other load {busy:.2f} cores)", file=sys.stderr)
            announced = True


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except (OSError, ValueError):
        return 0.0


def rss_kib(pid: int) -> int:
    """VmRSS of a running process in KiB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of `values` (pct in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, int(-(-pct * len(ordered) // 100)))  # ceil
    return ordered[min(rank, len(ordered)) - 1]


# --- reporting --------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _wrk_version() -> str:
    if shutil.which("wrk") is None:
        return "not installed"
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    first = (out.stdout + out.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _source() -> str:
    """The commit the benchmark ran, and the files that differed from it."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return out.stdout.rstrip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = [line[3:] for line in git("status", "--porcelain", "--", "flagd").splitlines()]
    return commit + (f" + uncommitted {', '.join(changed)}" if changed else "")


def machine_notes() -> dict[str, str]:
    return {
        "flagd source": _source(),
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "aiohttp": _version("aiohttp"),
        "asyncpg": _version("asyncpg"),
        "wrk": _wrk_version(),
        "load average (1/5/15 min) at start": " ".join(f"{value:.2f}" for value in os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def machine_notes_markdown() -> str:
    return "\n".join(f"- {name}: {value}" for name, value in machine_notes().items())


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
