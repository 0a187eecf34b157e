"""Admin writes per second: PATCH /api/admin/flags/{id}/toggle from 1 and 8 concurrent writers.

    .venv/bin/python -m bench.admin_writes                  # PostgreSQL and SQLite, 10 s each
    .venv/bin/python -m bench.admin_writes --stores postgres --duration 5

Each writer is a loop that sends one toggle, waits for the answer and sends the next (a
closed loop, one keep-alive connection per writer). Scenarios: 1 writer; 8 writers each
toggling its own flag; 8 writers all toggling one shared flag (row contention). The load
generator is an aiohttp client in this process; its CPU, flagd's and PostgreSQL's (the
server's own processes and the backends of the benchmark's database, from /proc) are
reported because they share the 2 cores. After each run the flag versions and the revision
are checked against the number of answered writes.
Each run waits for a quiet machine; one that other processes disturbed (> 0.1 core on
average) is retried up to --tries times, keeping the least disturbed.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.common import (
    Flagd,
    cpu_seconds,
    log_errors,
    machine_notes_markdown,
    markdown_table,
    percentile,
    run_flagd,
    seed_flags,
    system_busy_seconds,
    wait_for_quiet,
)

TARGET_8 = 500.0
QUIET_OTHER_CPU = 0.1  # cores used by other processes during a run that still counts as quiet


@dataclass
class WriteResult:
    scenario: str
    writers: int
    ok: int
    failed: int
    seconds: float
    latencies_ms: list[float]
    client_cpu_s: float
    flagd_cpu_s: float
    pg_cpu_s: float | None
    other_cpu_s: float

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds


def postgres_pids(database: str) -> list[int]:
    """The server's own processes plus the backends connected to `database` (other
    engineers' test databases on the same server are left out)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() not in {"postgres", "postmaster"}:
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        is_backend = "127.0.0.1(" in cmdline or "[local]" in cmdline
        if not is_backend or f" {database} " in cmdline:
            pids.append(int(entry.name))
    return pids


def postgres_cpu(database: str | None) -> float | None:
    """CPU seconds of those postgres processes (backends come and go; pool ones stay)."""
    if database is None:
        return None
    pids = postgres_pids(database)
    if not pids:
        return None
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (OSError, ValueError):
            continue
    return total


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drive(daemon: Flagd, refs: list[str], duration: float) -> tuple[int, int, list[float]]:
    """One writer per ref, each toggling its ref in a closed loop for `duration` seconds."""
    latencies: list[float] = []
    counts = {"ok": 0, "failed": 0}
    failures: dict[str, int] = {}
    deadline = time.monotonic() + duration
    headers = {"X-Admin-API-Key": daemon.admin_key or ""}

    async def writer(ref: str) -> None:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(
            base_url=daemon.url, headers=headers, connector=connector
        ) as session:
            path = f"/api/admin/flags/{ref}/toggle"
            while time.monotonic() < deadline:
                started = time.perf_counter()
                async with session.patch(path) as response:
                    body = await response.read()
                    status = response.status
                latencies.append((time.perf_counter() - started) * 1000)
                counts["ok" if status == 200 else "failed"] += 1
                if status != 200:
                    what = f"{status} {body[:160].decode(errors='replace')}"
                    failures[what] = failures.get(what, 0) + 1

    await asyncio.gather(*(writer(ref) for ref in refs))
    for what, count in failures.items():
        print(f"  FAILED x{count}: {what}", file=sys.stderr)
    return counts["ok"], counts["failed"], latencies


def run_scenario(daemon: Flagd, scenario: str, refs: list[str], duration: float) -> WriteResult:
    pid = daemon.process.pid  # type: ignore[union-attr]
    database = daemon.database_url.rsplit("/", 1)[1] if daemon.database_url else None
    wait_for_quiet(exclude=[pid])
    flagd_before, client_before, pg_before = cpu_seconds(pid), self_cpu(), postgres_cpu(database)
    busy_before = system_busy_seconds()
    started = time.monotonic()
    ok, failed, latencies = asyncio.run(drive(daemon, refs, duration))
    seconds = time.monotonic() - started
    pg_after = postgres_cpu(database)
    busy = system_busy_seconds() - busy_before
    flagd_cpu, client_cpu = cpu_seconds(pid) - flagd_before, self_cpu() - client_before
    pg_cpu = None if pg_before is None or pg_after is None else pg_after - pg_before
    result = WriteResult(
        scenario=scenario,
        writers=len(refs),
        ok=ok,
        failed=failed,
        seconds=seconds,
        latencies_ms=latencies,
        client_cpu_s=client_cpu,
        flagd_cpu_s=flagd_cpu,
        pg_cpu_s=pg_cpu,
        other_cpu_s=max(0.0, busy - flagd_cpu - client_cpu - (pg_cpu or 0.0)),
    )
    print(
        f"  {scenario}: {result.per_second:.0f} writes/s, p50 "
        f"{percentile(latencies, 50):.2f} ms, p99 {percentile(latencies, 99):.2f} ms, "
        f"{failed} failed, other CPU {result.other_cpu_s:.1f} s",
        file=sys.stderr,
    )
    return result


def snapshot(daemon: Flagd, refs: set[str]) -> tuple[dict[str, int], int]:
    """Current versions of `refs` and the current global revision."""
    with daemon.admin() as admin:
        versions = {ref: admin.get(f"/api/admin/flags/{ref}").json()["version"] for ref in refs}
    with daemon.client() as client:
        revision = client.get("/api/client/flags").json()["revision"]
    return versions, revision


def measure_once(
    daemon: Flagd, scenario: str, refs: list[str], args: argparse.Namespace
) -> WriteResult:
    if args.warmup:
        wait_for_quiet(exclude=[daemon.process.pid])  # type: ignore[union-attr]
        asyncio.run(drive(daemon, refs, args.warmup))
    versions, revision = snapshot(daemon, set(refs))
    result = run_scenario(daemon, scenario, refs, args.duration)
    # Every answered toggle bumped its flag's version and the revision exactly once.
    after, revision_after = snapshot(daemon, set(refs))
    bumped = sum(after[ref] - versions[ref] for ref in versions)
    if bumped != result.ok or revision_after - revision != result.ok:
        print(
            f"  WARNING {scenario}: {result.ok} toggles answered 200, but versions "
            f"advanced by {bumped} and the revision by {revision_after - revision}",
            file=sys.stderr,
        )
    return result


def bench_store(store: str, args: argparse.Namespace) -> list[tuple[str, WriteResult]]:
    print(f"{store}: starting flagd", file=sys.stderr)
    results = []
    with run_flagd(store, access_log=args.access_log) as daemon:
        flags = seed_flags(daemon, 9)
        own = [flag["id"] for flag in flags[:8]]
        shared = flags[8]["id"]
        scenarios = [
            ("1 writer", own[:1]),
            ("8 writers, own flag each", own),
            ("8 writers, one shared flag", [shared] * 8),
        ]
        for scenario, refs in scenarios:
            # Other engineers' test runs share the machine: retry a disturbed run, keeping
            # the least disturbed one.
            best: WriteResult | None = None
            for attempt_no in range(1, args.tries + 1):
                result = measure_once(daemon, scenario, refs, args)
                if best is None or result.other_cpu_s < best.other_cpu_s:
                    best = result
                if result.other_cpu_s < QUIET_OTHER_CPU * result.seconds:
                    break
                print(
                    f"  {scenario}: disturbed ({result.other_cpu_s:.1f} s other CPU)"
                    + (
                        "; retrying" if attempt_no < args.tries else "; keeping the least disturbed"
                    ),
                    file=sys.stderr,
                )
            assert best is not None
            results.append((store, best))
        for line in log_errors(daemon):
            print(f"  flagd log error: {line}", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="postgres,sqlite")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument(
        "--warmup",
        type=float,
        default=1.0,
        help="seconds of unmeasured writes before each scenario",
    )
    parser.add_argument(
        "--tries", type=int, default=3, help="runs per scenario when other processes disturb one"
    )
    parser.add_argument(
        "--access-log", action="store_true", help="keep flagd's access log on (default off)"
    )
    args = parser.parse_args(argv)

    results: list[tuple[str, WriteResult]] = []
    for store in args.stores.split(","):
        results += bench_store(store.strip(), args)

    rows = []
    for store, r in results:
        target = ""
        if r.writers == 8 and store == "postgres":
            target = f"500/s: {'met' if r.per_second >= TARGET_8 else 'MISSED'}"
        pg = "" if store != "postgres" or r.pg_cpu_s is None else f"{r.pg_cpu_s:.1f} s"
        rows.append(
            [
                store,
                r.scenario,
                f"{r.per_second:,.0f}",
                f"{percentile(r.latencies_ms, 50):.2f}",
                f"{percentile(r.latencies_ms, 99):.2f}",
                f"{r.ok:,}",
                str(r.failed),
                f"{r.flagd_cpu_s:.1f} s",
                pg or "-",
                f"{r.client_cpu_s:.1f} s",
                f"{r.other_cpu_s:.1f} s",
                target or "-",
            ]
        )
    print()
    print(
        f"closed-loop toggles, {args.duration:g} s per scenario, access log "
        f"{'on' if args.access_log else 'off'}"
    )
    print()
    print(machine_notes_markdown())
    print()
    print(
        markdown_table(
            [
                "store",
                "scenario",
                "writes/s",
                "p50 ms",
                "p99 ms",
                "writes",
                "failed",
                "flagd CPU",
                "postgres CPU",
                "client CPU",
                "other CPU",
                "target",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
