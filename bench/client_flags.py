"""GET /api/client/flags with 1,000 flags: the 200 and the 304 path, driven by wrk.

    .venv/bin/python -m bench.client_flags                  # SQLite and PostgreSQL, 10 s each
    .venv/bin/python -m bench.client_flags --stores sqlite --duration 5

For each store and access-log setting, one flagd is started, seeded with realistic flags,
and loaded with `wrk --latency` at 50 connections: once plainly (200 path, the whole body)
and once with `If-None-Match` set to the current ETag (304 path). CPU used by wrk (from
wait4's rusage) and by flagd (from /proc/<pid>/stat) during the measured run is reported
next to the figures: both share the same 2 cores. So is "other CPU": what the rest of the
machine used meanwhile (from /proc/stat). Each run waits for a quiet machine first, and a
run that other processes disturbed (> 0.1 core on average) is retried up to --tries times,
keeping the least disturbed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx

from bench.common import (
    Flagd,
    cpu_seconds,
    machine_notes_markdown,
    markdown_table,
    run_flagd,
    seed_flags,
    system_busy_seconds,
    wait_for_quiet,
)

TARGET_200 = 3000.0
TARGET_304 = 8000.0
QUIET_OTHER_CPU = 0.1  # cores used by other processes during a run that still counts as quiet

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_BYTES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    transfer_per_s: str
    requests: int
    errors: str
    non_2xx_3xx: int
    wrk_cpu_s: float
    wall_s: float
    flagd_cpu_s: float
    other_cpu_s: float


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if match is None:
        raise ValueError(f"cannot parse a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, object]:
    """Requests/s, p50, p99, transfer/s and error counts from `wrk --latency` output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    transfer = re.search(r"Transfer/sec:\s+([\d.]+\s*[KMGT]?B)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"(\d+) requests in", output)
    if not (rps and transfer and p50 and p99 and total):
        raise ValueError(f"unexpected wrk output:\n{output}")
    errors = re.search(r"Socket errors: (.*)", output)
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests_per_s": float(rps.group(1)),
        "transfer_per_s": transfer.group(1).replace(" ", ""),
        "p50_ms": _ms(p50.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "requests": int(total.group(1)),
        "errors": errors.group(1).strip() if errors else "none",
        "non_2xx_3xx": int(non_ok.group(1)) if non_ok else 0,
    }


def run_wrk(
    url: str,
    headers: dict[str, str],
    duration: int,
    connections: int,
    threads: int,
    flagd_pid: int,
) -> WrkResult:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(url)
    flagd_before, busy_before = cpu_seconds(flagd_pid), system_busy_seconds()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    flagd_cpu = cpu_seconds(flagd_pid) - flagd_before
    busy = system_busy_seconds() - busy_before
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{output}")
    parsed = parse_wrk(output)
    return WrkResult(
        **parsed,  # type: ignore[arg-type]
        wrk_cpu_s=usage.ru_utime + usage.ru_stime,
        wall_s=wall,
        flagd_cpu_s=flagd_cpu,
        other_cpu_s=max(0.0, busy - flagd_cpu - (usage.ru_utime + usage.ru_stime)),
    )


def measure(
    daemon: Flagd, args: argparse.Namespace, label: str
) -> list[tuple[str, str, WrkResult]]:
    url = daemon.url + "/api/client/flags"
    key = {"X-SDK-Key": daemon.sdk_key or ""}
    first = httpx.get(url, headers=key, timeout=10)
    first.raise_for_status()
    etag = first.headers["ETag"]
    flags = len(first.json()["flags"])
    if flags != args.flags:
        raise RuntimeError(f"expected {args.flags} flags, flagd serves {flags}")
    check = httpx.get(url, headers={**key, "If-None-Match": etag}, timeout=10)
    if check.status_code != 304:
        raise RuntimeError(f"If-None-Match {etag} answered {check.status_code}, not 304")
    print(f"  body {len(first.content)} bytes, ETag {etag}", file=sys.stderr)

    pid = daemon.process.pid  # type: ignore[union-attr]
    results = []
    cases = (
        ("200", key),
        ("200 gzip", {**key, "Accept-Encoding": "gzip"}),  # what the SDK's aiohttp sends
        ("304", {**key, "If-None-Match": etag}),
    )
    for path, headers in cases:
        # Other engineers' test runs share the machine: wait for a quiet moment, and retry
        # a run that other processes disturbed, keeping the least disturbed one.
        result: WrkResult | None = None
        for attempt_no in range(1, args.tries + 1):
            wait_for_quiet(exclude=[pid])
            if args.warmup:
                run_wrk(url, headers, args.warmup, args.connections, args.threads, pid)
            attempt = run_wrk(url, headers, args.duration, args.connections, args.threads, pid)
            if result is None or attempt.other_cpu_s < result.other_cpu_s:
                result = attempt
            if attempt.other_cpu_s < QUIET_OTHER_CPU * attempt.wall_s:
                break
            print(
                f"  {label} {path}: disturbed ({attempt.other_cpu_s:.1f} s other CPU, "
                f"{attempt.requests_per_s:.0f} req/s)"
                + ("; retrying" if attempt_no < args.tries else "; keeping the least disturbed"),
                file=sys.stderr,
            )
        assert result is not None
        print(
            f"  {label} {path}: {result.requests_per_s:.0f} req/s, p50 {result.p50_ms:.2f} ms,"
            f" p99 {result.p99_ms:.2f} ms, wrk CPU {result.wrk_cpu_s:.1f} s,"
            f" flagd CPU {result.flagd_cpu_s:.1f} s, other CPU {result.other_cpu_s:.1f} s",
            file=sys.stderr,
        )
        if result.non_2xx_3xx or result.errors != "none":
            print(
                f"  WARNING: non-2xx/3xx {result.non_2xx_3xx}, socket errors {result.errors}",
                file=sys.stderr,
            )
        results.append((label, path, result))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stores",
        default="sqlite,postgres",
        help="comma-separated: sqlite, postgres (default both)",
    )
    parser.add_argument("--flags", type=int, default=1000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load first")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--tries", type=int, default=3, help="runs per case when other processes disturb one"
    )
    parser.add_argument(
        "--flagd-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for flagd, e.g. FLAGD_EVENT_LOOP=asyncio (repeatable)",
    )
    args = parser.parse_args(argv)

    if shutil.which("wrk") is None:
        print(
            "wrk is not installed: `apt-get install -y wrk` (Debian's package), then rerun.",
            file=sys.stderr,
        )
        return 2

    configs: list[tuple[str, bool]] = []
    for store in args.stores.split(","):
        store = store.strip()
        configs.append((store, False))
        if store == "sqlite":
            configs.append((store, True))
    results: list[tuple[str, str, WrkResult]] = []
    for store, access_log in configs:
        label = f"{store}, access log {'on' if access_log else 'off'}"
        print(f"{label}: starting flagd, seeding {args.flags} flags", file=sys.stderr)
        extra_env = dict(item.split("=", 1) for item in args.flagd_env)
        with run_flagd(store, access_log=access_log, extra_env=extra_env) as daemon:
            seed_flags(daemon, args.flags)
            results += measure(daemon, args, label)

    rows = []
    for label, path, r in results:
        target = TARGET_304 if path == "304" else TARGET_200
        rows.append(
            [
                label,
                path,
                f"{r.requests_per_s:,.0f}",
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                r.transfer_per_s,
                f"{r.requests:,}",
                f"{r.wrk_cpu_s:.1f} s ({100 * r.wrk_cpu_s / r.wall_s:.0f}%)",
                f"{r.flagd_cpu_s:.1f} s ({100 * r.flagd_cpu_s / r.wall_s:.0f}%)",
                f"{1e6 * r.flagd_cpu_s / r.requests:.0f}",
                f"{r.other_cpu_s:.1f} s",
                f"{target:,.0f}: {'met' if r.requests_per_s >= target else 'MISSED'}",
            ]
        )
    print()
    print(
        f"`wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency`, "
        f"{args.flags} flags, one flagd process"
    )
    print()
    print(machine_notes_markdown())
    print()
    print(
        markdown_table(
            [
                "store, access log",
                "path",
                "req/s",
                "p50 ms",
                "p99 ms",
                "transfer/s",
                "requests",
                "wrk CPU (of wall)",
                "flagd CPU (of wall)",
                "flagd CPU µs/req",
                "other CPU",
                "target req/s",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
