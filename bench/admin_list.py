"""`/health` latency while 20 clients list 25 MB of flags (GET /api/admin/flags).

    .venv/bin/python -m bench.admin_list --before-src /path/to/older/checkout
    .venv/bin/python -m bench.admin_list              # this checkout only

Seeds one SQLite data dir with ~25 MB of flags (5,000 flags with 200 targeted users each,
through the admin API), then for each flagd source (an older checkout given with
`--before-src`, and this one) starts flagd on that data dir with the access log off and
measures, over a fresh keep-alive connection from a separate process, `/health` every
20 ms: first idle, then while `--clients` clients each list the whole flag set in a loop
for `--duration` seconds. Reports `/health` p50/p99/max, lists completed and their
median time. The generator shares the 2 cores with flagd, and other test runs may share
the machine too: compare the two sources within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import multiprocessing
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    Flagd,
    machine_notes_markdown,
    markdown_table,
    percentile,
    wait_for_quiet,
)

USERS_PER_FLAG = 200


def flag_body(index: int) -> dict[str, Any]:
    users = [f"user-{index:05d}-{number:04d}-abcdefgh" for number in range(USERS_PER_FLAG)]
    return {
        "key": f"big-{index:05d}",
        "description": "A flag with a long targeting list, for the admin list benchmark",
        "enabled": index % 2 == 0,
        "rollout_percentage": index % 101,
        "targeted_users": users,
    }


async def seed(url: str, admin_key: str, count: int, concurrency: int = 8) -> None:
    import httpx

    indexes = iter(range(count))
    async with httpx.AsyncClient(
        base_url=url, headers={"X-Admin-API-Key": admin_key}, timeout=60
    ) as client:

        async def worker() -> None:
            for index in indexes:
                response = await client.post("/api/admin/flags", json=flag_body(index))
                if response.status_code != 201:
                    raise RuntimeError(f"seed failed: {response.status_code} {response.text}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))


@contextlib.contextmanager
def flagd_from(src: Path, data_dir: Path) -> Iterator[Flagd]:
    """flagd from the source tree `src` (`python -m flagd` run in it imports its flagd)."""
    daemon = Flagd(data_dir=data_dir, extra_env={"FLAGD_ACCESS_LOG": "false"})
    daemon.log_path = data_dir / f"flagd-{daemon.port}.log"
    with open(daemon.log_path, "ab") as log:
        daemon.process = subprocess.Popen(
            [sys.executable, "-m", "flagd"], cwd=src, env=daemon.env(), stdout=log, stderr=log
        )
    try:
        daemon.wait_for("/ready", timeout=60)
        yield daemon
    finally:
        daemon.stop()


def probe_health(port: int, seconds: float, interval: float, out: Any) -> None:
    """In its own process: GET /health every `interval` s on one connection; latencies in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        started = time.perf_counter()
        conn.request("GET", "/health")
        response = conn.getresponse()
        response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(max(0.0, interval - (time.perf_counter() - started)))
    conn.close()
    out.send(latencies)


def health_during(port: int, seconds: float, load: Any = None) -> tuple[list[float], Any]:
    receiver, sender = multiprocessing.Pipe(duplex=False)
    probe = multiprocessing.Process(target=probe_health, args=(port, seconds, 0.02, sender))
    probe.start()
    result = asyncio.run(load()) if load is not None else None
    latencies = receiver.recv()
    probe.join()
    return latencies, result


def list_load(url: str, admin_key: str, clients: int, seconds: float) -> Any:
    async def run() -> tuple[list[float], int]:
        import aiohttp

        times: list[float] = []
        size = 0
        end = time.perf_counter() + seconds
        async with aiohttp.ClientSession(
            url, headers={"X-Admin-API-Key": admin_key}, timeout=aiohttp.ClientTimeout(120)
        ) as session:

            async def client() -> None:
                nonlocal size
                while time.perf_counter() < end:
                    started = time.perf_counter()
                    async with session.get("/api/admin/flags") as response:
                        assert response.status == 200, response.status
                        size = 0
                        async for chunk in response.content.iter_chunked(1 << 20):
                            size += len(chunk)
                    times.append((time.perf_counter() - started) * 1000)

            await asyncio.gather(*(client() for _ in range(clients)))
        return times, size

    return run


def measure(src: Path, data_dir: Path, clients: int, duration: float) -> dict[str, Any]:
    with flagd_from(src, data_dir) as daemon:
        key = daemon.admin_key or ""
        with daemon.admin() as admin:
            admin.get("/api/admin/flags")  # warm: the first list after start
        wait_for_quiet(
            max_wait=30, window=1.0, exclude=[daemon.process.pid] if daemon.process else []
        )
        idle, _ = health_during(daemon.port, 3.0)
        loaded, (times, size) = health_during(
            daemon.port, duration, list_load(daemon.url, key, clients, duration)
        )
    return {"idle": idle, "loaded": loaded, "lists": times, "size": size}


def row(name: str, phase: str, latencies: list[float], lists: list[float] | None) -> list[str]:
    cells = [name, phase, str(len(latencies))]
    cells += [f"{percentile(latencies, p):.1f}" for p in (50, 99)] + [f"{max(latencies):.1f}"]
    if lists:
        cells += [str(len(lists)), f"{percentile(lists, 50):.0f}"]
    else:
        cells += ["", ""]
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before-src", type=Path, help="an older flagd checkout to compare")
    parser.add_argument("--flags", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10.0)
    options = parser.parse_args()

    sources = {"this checkout": REPO}
    if options.before_src:
        sources = {"before": options.before_src.resolve(), "after (this checkout)": REPO}
    with tempfile.TemporaryDirectory(prefix="flagd-bench-list-") as tmp:
        data_dir = Path(tmp)
        print(f"seeding {options.flags} flags", file=sys.stderr)
        with flagd_from(REPO, data_dir) as daemon:
            asyncio.run(seed(daemon.url, daemon.admin_key or "", options.flags))
        results = {}
        for name, src in sources.items():
            print(f"measuring {name} ({src})", file=sys.stderr)
            results[name] = measure(src, data_dir, options.clients, options.duration)

    size_mb = next(iter(results.values()))["size"] / 1e6
    print(f"## /health under {options.clients} concurrent admin lists of {size_mb:.1f} MB\n")
    print(machine_notes_markdown() + "\n")
    rows = []
    for name, result in results.items():
        rows.append(row(name, "idle", result["idle"], None))
        rows.append(row(name, f"{options.clients} lists", result["loaded"], result["lists"]))
    headers = ["flagd", "phase", "probes", "p50 ms", "p99 ms", "max ms", "lists", "list p50 ms"]
    print(markdown_table(headers, rows))


if __name__ == "__main__":
    main()
