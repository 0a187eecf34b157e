"""flagd start to ready on SQLite, and idle memory.

    .venv/bin/python -m bench.startup                 # 10 runs per case
    .venv/bin/python -m bench.startup --runs 5

Start to ready is the wall time from spawning `python -m flagd` to the first 200 from
`/ready` (polled every 2 ms over a fresh connection), with no keys in the environment.
Cases: a fresh data dir each run (keys generated, SQLite schema created), an existing data
dir with no flags, and an existing data dir holding 1,000 flags. The median, min and max
of the runs are reported, next to the bare interpreter's start (`python -c pass`). Each
start waits for a quiet machine first (other engineers' test runs share it).

Idle RSS is VmRSS from /proc/<pid>/status, read after the process has sat idle for a
moment: just after start with no flags; after 1,000 flags were created through the API
and the client document served; and after a restart that loads those 1,000 flags.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    Flagd,
    machine_notes_markdown,
    markdown_table,
    rss_kib,
    seed_flags,
    wait_for_quiet,
)

TARGET_START_S = 1.0
TARGET_RSS_MB = 60.0


def ready_status(port: int) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/ready")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def start_to_ready(data_dir: Path, timeout: float = 30.0) -> float:
    """Seconds from spawn to /ready 200; the process is stopped afterwards."""
    # No keys in the environment: a first start generates them, later starts read them.
    daemon = Flagd(
        data_dir=data_dir, admin_key=None, sdk_key=None, extra_env={"FLAGD_ACCESS_LOG": "false"}
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    wait_for_quiet(window=1.0)  # other engineers' test runs share the machine
    log = open(data_dir / "startup-bench.log", "ab")  # noqa: SIM115 - the child keeps it
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "flagd"], env=daemon.env(), stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    try:
        while True:
            if ready_status(daemon.port) == 200:
                return time.perf_counter() - started
            if process.poll() is not None:
                text = (data_dir / "startup-bench.log").read_text(errors="replace")
                raise RuntimeError(f"flagd exited with {process.returncode}:\n{text}")
            if time.perf_counter() - started > timeout:
                raise TimeoutError("flagd did not get ready")
            time.sleep(0.002)
    finally:
        process.terminate()
        process.wait(10)


def bare_interpreter(runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def idle_rss(daemon: Flagd, settle: float) -> int:
    time.sleep(settle)
    return rss_kib(daemon.process.pid)  # type: ignore[union-attr]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--flags", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds idle before reading RSS")
    args = parser.parse_args(argv)

    timings: dict[str, list[float]] = {}
    rss: list[tuple[str, int]] = []
    with tempfile.TemporaryDirectory(prefix="flagd-bench-") as tmp:
        root = Path(tmp)
        print("fresh data dir", file=sys.stderr)
        timings["fresh data dir (keys generated, schema created)"] = [
            start_to_ready(root / f"fresh-{i}") for i in range(args.runs)
        ]

        print("existing data dir, no flags", file=sys.stderr)
        existing = root / "existing"
        start_to_ready(existing)  # creates it
        timings["existing data dir, 0 flags"] = [start_to_ready(existing) for _ in range(args.runs)]

        print(f"RSS; seeding {args.flags} flags", file=sys.stderr)
        loaded = root / "loaded"
        daemon = Flagd(data_dir=loaded, extra_env={"FLAGD_ACCESS_LOG": "false"})
        try:
            daemon.start()
            rss.append(("after start, 0 flags", idle_rss(daemon, args.settle)))
            seed_flags(daemon, args.flags)
            with daemon.client() as client:
                body = client.get("/api/client/flags")
                body.raise_for_status()
            rss.append(
                (
                    f"after creating {args.flags} flags over the API and one client read",
                    idle_rss(daemon, args.settle),
                )
            )
            daemon.restart()
            with daemon.client() as client:
                assert len(client.get("/api/client/flags").json()["flags"]) == args.flags
            rss.append(
                (
                    f"after a restart that loads {args.flags} flags, one client read",
                    idle_rss(daemon, args.settle),
                )
            )
        finally:
            daemon.stop()

        print(f"existing data dir, {args.flags} flags", file=sys.stderr)
        start_to_ready(loaded)  # unmeasured: generates the keys file in that dir
        timings[f"existing data dir, {args.flags} flags"] = [
            start_to_ready(loaded) for _ in range(args.runs)
        ]
        bare = bare_interpreter(args.runs)

    print()
    print(f"SQLite store, {args.runs} runs per case; RSS read after {args.settle:g} s idle")
    print()
    print(machine_notes_markdown())
    print()
    rows = []
    for case, values in timings.items():
        median = statistics.median(values)
        rows.append(
            [
                case,
                f"{median * 1000:.0f}",
                f"{min(values) * 1000:.0f}",
                f"{max(values) * 1000:.0f}",
                f"< 1 s: {'met' if median < TARGET_START_S else 'MISSED'}",
            ]
        )
    rows.append(["(bare `python -c pass`, for scale)", f"{bare * 1000:.0f}", "", "", ""])
    print(markdown_table(["start to /ready 200", "median ms", "min ms", "max ms", "target"], rows))
    print()
    rss_rows = []
    for case, kib in rss:
        mb = kib * 1024 / 1e6
        verdict = "met" if mb < TARGET_RSS_MB else "MISSED"
        rss_rows.append([case, f"{mb:.1f}", f"{kib / 1024:.1f}", f"< 60 MB: {verdict}"])
    print(markdown_table(["idle RSS (VmRSS)", "MB", "MiB", "target"], rss_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
