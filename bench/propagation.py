"""Propagation and stream memory: an admin toggle, to the event in every subscriber's hands.

    .venv/bin/python -m bench.propagation                        # the three cases below
    .venv/bin/python -m bench.propagation --cases single-1k --toggles 10
    .venv/bin/python -m bench.propagation --markdown /tmp/propagation.md --profile /tmp/prof

Cases (SPEC section 10): 1,000 and 10,000 subscribers on one instance, and 1,000 split
evenly across two instances sharing one PostgreSQL database and Redis (a unique channel);
toggles go to instance A only, so B's half measures the cross-instance path.

Each case: fresh PostgreSQL database, flagd with FLAGD_ACCESS_LOG=false, a few realistic
flags seeded, flagd RSS read (VmRSS), subscribers connected through the multi-process
generator in bench/sse_load.py and all of them holding their snapshot, RSS read again
(idle subscribers), then N toggles of one flag on A spaced `--interval` apart. A toggle's
send time is `time.time()` just before its request is written; each subscriber stamps the
arrival of the event with that revision; propagation = arrival - send. A subscriber that
has not received an event `--deadline` seconds after its send counts as a miss.
The CPU used by the generator processes and by flagd (utime + stime from /proc), flagd's
run-queue wait (/proc schedstat) and the rest of the machine's CPU (/proc/stat) are
reported per phase, since the generator shares the 2 cores with flagd and with whatever
else runs here. Toggles whose fan-out met a heartbeat fan-out are listed, and the p99 of
the other toggles is shown next to the overall one.

    --generator-nice 10   run the generator below flagd's CPU priority (clients would be on
                          other machines in production)
    --heartbeat 3600      FLAGD_HEARTBEAT_INTERVAL for flagd (default: flagd's 15 s)
    --profile DIR         py-spy (non-blocking) collapsed stacks of flagd A and of one
                          generator process during the toggles
    --runs 5              repeat every case; a table of p50 / p99 per run ends the output
    --build before=/tmp/before --build after=.
                          run each case once per build, alternating, in one invocation:
                          flagd is imported from DIR (PYTHONSAFEPATH=1, PYTHONPATH=DIR),
                          the harness stays this one
    --env NAME=VALUE      extra environment for flagd (e.g. PYTHONGC tuning, debug hooks)

Five runs of the single-instance case, as in issue 12 (1,000 subscribers, 4 generator
processes, 50 toggles):

    .venv/bin/python -m bench.propagation --cases single-1k --toggles 50 --runs 5
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

from bench.common import (
    PG_ADMIN_URL,
    Flagd,
    cpu_seconds,
    machine_notes_markdown,
    markdown_table,
    percentile,
    pg_database,
    rss_kib,
    seed_flags,
)
from bench.sse_load import LoadGenerator, Subscriber, Target, raise_nofile_limit

REDIS_URL = os.environ.get("FLAGD_BENCH_REDIS", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    instances: int
    subscribers: int
    target_p99_ms: float


CASES = {
    case.name: case
    for case in (
        Case("single-1k", "1,000 subscribers, one instance", 1, 1_000, 50.0),
        Case("single-10k", "10,000 subscribers, one instance", 1, 10_000, 250.0),
        Case("two-1k", "1,000 subscribers, two instances via Redis", 2, 1_000, 50.0),
    )
}


@dataclass(frozen=True)
class Phase:
    """CPU seconds used over a stretch of wall time (or, as read by `at`, totals so far)."""

    wall_s: float
    generator_cpu_s: float
    flagd_cpu_s: float
    flagd_sys_s: float  # of flagd_cpu_s, in the kernel (socket sends)
    flagd_wait_s: float  # runnable but waiting for a CPU (scheduler run-queue delay)
    machine_busy_s: float  # every process on the machine (/proc/stat)

    @classmethod
    def at(cls, generator_pids: Sequence[int], flagd_pids: Sequence[int]) -> Phase:
        return cls(
            time.monotonic(),
            sum(cpu_seconds(p) for p in generator_pids),
            sum(cpu_seconds(p) for p in flagd_pids),
            sum(system_seconds(p) for p in flagd_pids),
            sum(run_delay_s(p) for p in flagd_pids),
            machine_busy_s(),
        )

    @property
    def others_cpu_s(self) -> float:
        """CPU of everything but flagd and the generator: PostgreSQL, Redis, other work."""
        return self.machine_busy_s - self.generator_cpu_s - self.flagd_cpu_s

    def __sub__(self, earlier: Phase) -> Phase:
        return Phase(*(getattr(self, f.name) - getattr(earlier, f.name) for f in fields(Phase)))

    def cores(self, cpu_s: float) -> float:
        return cpu_s / self.wall_s if self.wall_s > 0 else 0.0


@dataclass
class Latencies:
    values_ms: list[float] = field(default_factory=list)
    missed: int = 0  # (subscriber, event) pairs not received within the deadline
    subscribers_missing: int = 0  # subscribers that missed at least one event

    def row(self, label: str, subscribers: int, toggles: int) -> list[object]:
        v = self.values_ms
        return [
            label,
            f"{subscribers:,}",
            f"{len(v):,} / {subscribers * toggles:,}",
            _ms(percentile(v, 50)),
            _ms(percentile(v, 99)),
            _ms(max(v) if v else float("nan")),
            f"{self.missed} ({self.subscribers_missing} subscribers)",
        ]


@dataclass(frozen=True)
class Build:
    """Which flagd source a case runs: this tree (dir None) or another checkout."""

    label: str
    dir: Path | None = None

    def env(self) -> dict[str, str]:
        if self.dir is None:
            return {}
        return {"PYTHONSAFEPATH": "1", "PYTHONPATH": str(self.dir)}


@dataclass
class CaseResult:
    case: Case
    processes: int
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    busy_before: float = 0.0  # cores busy on the machine just before the case
    server_subscribers: int = 0  # flagd_stream_subscribers, summed over the instances
    connect_s: float = 0.0
    ready: int = 0
    failed: int = 0
    closed: int = 0
    rss_before_kib: int = 0
    rss_idle_kib: int = 0
    rss_after_kib: int = 0
    by_tag: dict[str, Latencies] = field(default_factory=dict)
    subscribers_by_tag: dict[str, int] = field(default_factory=dict)
    overall: Latencies = field(default_factory=Latencies)
    clean: Latencies = field(default_factory=Latencies)  # toggles clear of any heartbeat
    heartbeat_hit: int = 0  # toggles whose fan-out met a heartbeat fan-out
    write_ms: list[float] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)  # per toggle: fastest subscriber
    last_ms: list[float] = field(default_factory=list)  # per toggle: slowest subscriber
    # per instance tag, per toggle: (first, last) arrival in ms
    tag_spread: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    connect_phase: Phase | None = None
    measure_phase: Phase | None = None
    toggles: int = 0
    notes: list[str] = field(default_factory=list)
    label: str = ""  # build and run, when there are several
    sent: list[float] = field(default_factory=list)  # per toggle: time.time() of its send
    toggle_p99_ms: list[float] = field(default_factory=list)  # per toggle, over subscribers
    # PostgreSQL checkpoints during the toggles (count, fsync ms): other work on the server
    # (a DROP DATABASE forces one) stalls commits, which shows as slow toggles.
    checkpoints: tuple[int, float] | None = None

    @property
    def title(self) -> str:
        return f"{self.case.title}{self.label}"

    @property
    def kib_per_subscriber(self) -> float:
        """RSS growth of instance A over A's subscribers."""
        on_a = self.subscribers_by_tag.get("A", self.ready) if self.failed == 0 else self.ready
        return (self.rss_idle_kib - self.rss_before_kib) / max(1, on_a)

    @property
    def met(self) -> bool:
        p99 = percentile(self.overall.values_ms, 99)
        return p99 <= self.case.target_p99_ms and self.overall.missed == 0 and self.failed == 0


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _median_max(values: Sequence[float]) -> str:
    return f"{percentile(values, 50):.1f} / {max(values, default=float('nan')):.1f}"


def _load() -> tuple[float, float, float]:
    return os.getloadavg()


# --- daemons ----------------------------------------------------------------------------


@contextlib.contextmanager
def daemons(
    instances: int, store: str, work: Path, extra_env: dict[str, str]
) -> Iterator[list[Flagd]]:
    """`instances` flagd processes on one fresh database (PostgreSQL, or SQLite for a
    single instance); two or more share Redis on a unique channel."""
    env = {"FLAGD_ACCESS_LOG": "false", **extra_env}
    redis_url = None
    if instances > 1:
        redis_url = REDIS_URL
        env["FLAGD_REDIS_CHANNEL"] = f"flagd_bench_{uuid.uuid4().hex[:12]}"
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(pg_database()) if store == "postgres" else None
        started: list[Flagd] = []
        try:
            for index in range(instances):
                daemon = Flagd(
                    data_dir=work / f"flagd-{index}",
                    database_url=database_url,
                    redis_url=redis_url,
                    extra_env=env,
                )
                started.append(daemon.start(timeout=30))
            yield started
        finally:
            for daemon in started:
                daemon.stop()


def metric(daemon: Flagd, name: str) -> float:
    with daemon.admin() as client:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise RuntimeError(f"no metric {name}")


def wait_same_revision(daemons: Sequence[Flagd], timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        revisions = {metric(d, "flagd_revision") for d in daemons}
        if len(revisions) == 1 or time.monotonic() > deadline:
            return int(max(revisions))
        time.sleep(0.1)


def pg_checkpoints() -> tuple[int, float]:
    """Checkpoints the PostgreSQL server has run so far and their total fsync time in ms."""
    import asyncio

    import asyncpg

    async def read() -> tuple[int, float]:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            row = await conn.fetchrow(
                "SELECT checkpoints_timed + checkpoints_req, checkpoint_sync_time"
                " FROM pg_stat_bgwriter"
            )
        finally:
            await conn.close()
        return int(row[0]), float(row[1])

    return asyncio.run(read())


def machine_busy_s() -> float:
    """CPU seconds all cores spent not idle since boot (first line of /proc/stat)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait; steal (ticks[7]) is not this machine's work
    return (sum(ticks[:7]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_for_idle(max_busy_cores: float, timeout: float) -> float:
    """Other engineers run test suites and benchmarks here: wait (bounded) until the machine
    is quiet over a 3 s window. Returns the busy cores last seen."""
    deadline = time.monotonic() + timeout
    while True:
        before, at = machine_busy_s(), time.monotonic()
        time.sleep(3)
        busy = (machine_busy_s() - before) / (time.monotonic() - at)
        if busy <= max_busy_cores or time.monotonic() > deadline:
            return busy


def system_seconds(pid: int) -> float:
    """stime alone: the kernel's share of cpu_seconds (field 15 of /proc/<pid>/stat)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    return int(raw[raw.rindex(")") + 2 :].split()[12]) / os.sysconf("SC_CLK_TCK")


def run_delay_s(pid: int) -> float:
    """Seconds the process's threads spent runnable but not running (/proc schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def pid(daemon: Flagd) -> int:
    assert daemon.process is not None
    return daemon.process.pid


# --- toggles ----------------------------------------------------------------------------


def send_toggles(
    daemon: Flagd, key: str, count: int, interval: float
) -> tuple[list[float], list[float]]:
    """Toggle `key` `count` times on a fixed schedule; returns send times and write latencies.

    http.client over one kept-alive connection: the send time is taken right before the
    request bytes are written, with as little client code as possible in between.
    """
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
    headers = {"X-Admin-API-Key": daemon.admin_key or "", "Content-Length": "0"}
    sent: list[float] = []
    write_ms: list[float] = []
    start = time.monotonic() + 0.2
    try:
        for index in range(count):
            delay = start + index * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            at = time.time()
            conn.request("PATCH", f"/api/admin/flags/{key}/toggle", headers=headers)
            response = conn.getresponse()
            response.read()
            done = time.time()
            if response.status != 200:
                raise RuntimeError(f"toggle failed: HTTP {response.status}")
            sent.append(at)
            write_ms.append((done - at) * 1000)
    finally:
        conn.close()
    return sent, write_ms


def tally(
    subscribers: Sequence[Subscriber],
    revisions: Sequence[int],
    sent: Sequence[float],
    deadline: float,
) -> tuple[dict[str, Latencies], Latencies]:
    by_tag: dict[str, Latencies] = {}
    overall = Latencies()
    for subscriber in subscribers:
        arrivals = dict(subscriber.events)
        group = by_tag.setdefault(subscriber.tag, Latencies())
        missing = 0
        for revision, at in zip(revisions, sent, strict=True):
            arrived = arrivals.get(revision)
            if arrived is None or arrived - at > deadline:
                missing += 1
                continue
            value = (arrived - at) * 1000
            group.values_ms.append(value)
            overall.values_ms.append(value)
        for latencies in (group, overall):
            latencies.missed += missing
            latencies.subscribers_missing += 1 if missing else 0
    return by_tag, overall


def spread(
    subscribers: Sequence[Subscriber], revisions: Sequence[int], sent: Sequence[float]
) -> tuple[list[float], list[float]]:
    """Per toggle, the fastest and the slowest subscriber's propagation in ms: the first is
    write + commit + apply, the difference is the fan-out and the generator's reading."""
    first = dict.fromkeys(revisions, float("inf"))
    last = dict.fromkeys(revisions, float("-inf"))
    for subscriber in subscribers:
        for revision, arrived in subscriber.events:
            if revision in first:
                first[revision] = min(first[revision], arrived)
                last[revision] = max(last[revision], arrived)
    return (
        [(first[r] - at) * 1000 for r, at in zip(revisions, sent, strict=True)],
        [(last[r] - at) * 1000 for r, at in zip(revisions, sent, strict=True)],
    )


def heartbeat_overlaps(
    subscribers: Sequence[Subscriber],
    sent: Sequence[float],
    first_ms: Sequence[float],
    last_ms: Sequence[float],
) -> tuple[set[int], list[str]]:
    """Toggles whose window overlapped a heartbeat fan-out (one more write per subscriber,
    on the same event loop, just before or during the event's own fan-out)."""
    pings = sorted(at for s in subscribers for at in s.pings)
    hit: set[int] = set()
    notes = []
    for index, (at, first, last) in enumerate(zip(sent, first_ms, last_ms, strict=True)):
        window = [p for p in pings if at - 0.15 <= p <= at + last / 1000]
        if window:
            hit.add(index)
            notes.append(
                f"toggle {index + 1}: a heartbeat fan-out reached subscribers between "
                f"{(window[0] - at) * 1000:.0f} and {(window[-1] - at) * 1000:.0f} ms of "
                f"its send (its own first / last arrival {first:.0f} / {last:.0f} ms)"
            )
    return hit, notes


# --- profiling --------------------------------------------------------------------------


def start_profile(process: int, out: Path, duration: float) -> subprocess.Popen[bytes]:
    """py-spy (non-blocking sampling, so the process is not paused) in collapsed-stack form."""
    py_spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen(
        [
            str(py_spy),
            "record",
            "--pid",
            str(process),
            "--nonblocking",
            "--rate",
            "250",
            "--format",
            "raw",
            "--duration",
            str(int(duration) + 1),
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# --- one case ---------------------------------------------------------------------------


def run_case(
    case: Case, options: argparse.Namespace, build: Build = Build("this"), label: str = ""
) -> CaseResult:
    busy = wait_for_idle(options.max_busy, options.quiet_timeout)
    result = CaseResult(case, options.processes, _load(), busy_before=busy, label=label)
    store = "postgres" if case.instances > 1 else options.store
    extra_env = {**build.env(), **dict(options.env)}
    if options.heartbeat is not None:
        extra_env["FLAGD_HEARTBEAT_INTERVAL"] = str(options.heartbeat)
    with (
        tempfile.TemporaryDirectory(prefix="flagd-prop-") as work,
        daemons(case.instances, store, Path(work), extra_env) as instances,
    ):
        primary = instances[0]
        flags = seed_flags(primary, options.flags)
        key = flags[0]["key"]
        wait_same_revision(instances)
        time.sleep(1.0)
        result.rss_before_kib = rss_kib(pid(primary))

        tags = "AB"
        targets = [
            Target("127.0.0.1", d.port, d.sdk_key or "", tags[i]) for i, d in enumerate(instances)
        ]
        counts = [
            case.subscribers // case.instances + (1 if i < case.subscribers % case.instances else 0)
            for i in range(case.instances)
        ]
        result.subscribers_by_tag = dict(zip(tags, counts, strict=False))
        flagd_pids = [pid(d) for d in instances]
        with LoadGenerator(options.processes, options.generator_nice) as generator:
            start = Phase.at(generator.pids, flagd_pids)
            generator.connect(targets, counts, in_flight=options.in_flight)
            status = generator.wait_ready(case.subscribers, timeout=options.connect_timeout)
            result.connect_s = time.monotonic() - start.wall_s
            result.ready, result.failed = status.ready, status.failed
            if status.errors:
                result.notes.append(f"connect retries: {status.errors}")
            if len(status.revisions) != 1:
                raise RuntimeError(f"snapshots at several revisions: {status.revisions}")
            base = status.revisions.pop()
            time.sleep(options.settle)
            result.rss_idle_kib = rss_kib(pid(primary))
            result.server_subscribers = sum(
                int(metric(d, "flagd_stream_subscribers")) for d in instances
            )

            connected = Phase.at(generator.pids, flagd_pids)
            checkpoints_before = pg_checkpoints() if store == "postgres" else None
            result.connect_phase = connected - start
            profilers = []
            if options.profile:
                options.profile.mkdir(parents=True, exist_ok=True)
                duration = options.toggles * options.interval + 0.5
                profilers = [
                    start_profile(pid(primary), options.profile / f"{case.name}.txt", duration),
                    start_profile(
                        generator.pids[0],
                        options.profile / f"{case.name}-generator0.txt",
                        duration,
                    ),
                ]
                time.sleep(0.5)
            sent, result.write_ms = send_toggles(primary, key, options.toggles, options.interval)
            time.sleep(options.deadline)
            result.measure_phase = Phase.at(generator.pids, flagd_pids) - connected
            if checkpoints_before is not None:
                after = pg_checkpoints()
                result.checkpoints = (
                    after[0] - checkpoints_before[0],
                    after[1] - checkpoints_before[1],
                )
            result.rss_after_kib = rss_kib(pid(primary))
            for profiler in profilers:
                profiler.wait(60)
            subscribers = generator.results()
        result.toggles = len(sent)
        result.sent = sent
        revisions = [base + 1 + index for index in range(len(sent))]
        result.toggle_p99_ms = [
            percentile(tally(subscribers, [r], [at], options.deadline)[1].values_ms, 99)
            for r, at in zip(revisions, sent, strict=True)
        ]
        seen = {event_id for s in subscribers for event_id, _ in s.events}
        if not set(revisions) <= seen or seen - set(revisions):
            result.notes.append(f"event ids seen {sorted(seen)}, expected {revisions}")
        result.closed = sum(1 for s in subscribers if s.closed)
        result.by_tag, result.overall = tally(subscribers, revisions, sent, options.deadline)
        result.first_ms, result.last_ms = spread(subscribers, revisions, sent)
        if case.instances > 1:
            for tag in result.subscribers_by_tag:
                of_tag = [s for s in subscribers if s.tag == tag]
                result.tag_spread[tag] = spread(of_tag, revisions, sent)
        hit, notes = heartbeat_overlaps(subscribers, sent, result.first_ms, result.last_ms)
        result.notes += notes
        clean = [i for i in range(len(sent)) if i not in hit]
        result.heartbeat_hit = len(hit)
        result.clean = tally(
            subscribers, [revisions[i] for i in clean], [sent[i] for i in clean], options.deadline
        )[1]
    result.load_end = _load()
    return result


# --- reporting --------------------------------------------------------------------------


def report(results: Sequence[CaseResult], options: argparse.Namespace, machine: str) -> str:
    toggles = options.toggles
    rows: list[list[object]] = []
    for r in results:
        rows.append(r.overall.row(r.title, r.ready, toggles))
        if len(r.by_tag) > 1:
            for tag, latencies in sorted(r.by_tag.items()):
                where = "A (written to)" if tag == "A" else f"{tag} (via Redis)"
                rows.append(
                    latencies.row(f"  of which on {where}", r.subscribers_by_tag[tag], toggles)
                )
    latency = markdown_table(
        ["case", "subscribers", "deliveries", "p50 ms", "p99 ms", "max ms", "missed"], rows
    )
    targets = markdown_table(
        ["case", "target", "p99 ms", "p99 ms of toggles clear of a heartbeat", "missed", "met"],
        [
            [
                r.title,
                f"p99 ≤ {r.case.target_p99_ms:.0f} ms, zero missed",
                _ms(percentile(r.overall.values_ms, 99)),
                f"{_ms(percentile(r.clean.values_ms, 99))} ({r.toggles - r.heartbeat_hit} of "
                f"{r.toggles})",
                r.overall.missed + r.failed,
                "yes" if r.met else "**no**",
            ]
            for r in results
        ],
    )
    memory = markdown_table(
        [
            "case",
            "RSS before (MiB)",
            "RSS idle subscribers (MiB)",
            "after toggles (MiB)",
            "KiB per subscriber",
        ],
        [
            [
                r.title + (" (instance A)" if r.case.instances > 1 else ""),
                f"{r.rss_before_kib / 1024:.1f}",
                f"{r.rss_idle_kib / 1024:.1f}",
                f"{r.rss_after_kib / 1024:.1f}",
                f"{r.kib_per_subscriber:.1f}",
            ]
            for r in results
        ],
    )
    cpu_rows: list[list[object]] = []
    for r in results:
        for label, phase in (("connect", r.connect_phase), ("toggles", r.measure_phase)):
            if phase is None:
                continue
            cpu_rows.append(
                [
                    r.title,
                    label,
                    f"{phase.wall_s:.1f}",
                    f"{phase.generator_cpu_s:.1f} ({phase.cores(phase.generator_cpu_s):.2f} cores)",
                    f"{phase.flagd_cpu_s:.2f} ({phase.cores(phase.flagd_cpu_s):.2f} cores)",
                    f"{phase.flagd_sys_s:.2f}",
                    f"{phase.flagd_cpu_s * 1000 / max(1, r.toggles):.0f}"
                    if label == "toggles"
                    else "",
                    f"{phase.flagd_wait_s:.2f}",
                    f"{phase.others_cpu_s:.1f} ({phase.cores(phase.others_cpu_s):.2f} cores)",
                ]
            )
    cpu = markdown_table(
        [
            "case",
            "phase",
            "wall s",
            f"generator CPU s ({options.processes} procs)",
            "flagd CPU s (all instances)",
            "of which kernel s",
            "flagd CPU ms per toggle",
            "flagd runnable, waiting s",
            "rest of the machine CPU s",
        ],
        cpu_rows,
    )
    split_rows: list[list[object]] = []
    for r in results:
        split_rows.append(
            [
                r.title,
                _median_max(r.write_ms),
                _median_max(r.first_ms),
                _median_max(r.last_ms),
                _median_max([b - a for a, b in zip(r.first_ms, r.last_ms, strict=True)]),
            ]
        )
        for tag, (first, last) in sorted(r.tag_spread.items()):
            split_rows.append(
                [
                    f"  of which on {tag}",
                    "",
                    _median_max(first),
                    _median_max(last),
                    _median_max([b - a for a, b in zip(first, last, strict=True)]),
                ]
            )
    split = markdown_table(
        [
            "case",
            "toggle response ms",
            "first subscriber ms",
            "last subscriber ms",
            "last - first ms",
        ],
        split_rows,
    )
    runs = markdown_table(
        [
            "case",
            "connect s",
            "ready / failed / closed",
            "open per flagd /metrics",
            "cores busy before",
            "load avg start",
            "load avg end",
        ],
        [
            [
                r.title,
                f"{r.connect_s:.1f}",
                f"{r.ready:,} / {r.failed} / {r.closed}",
                f"{r.server_subscribers:,}",
                f"{r.busy_before:.2f}",
                " ".join(f"{x:.2f}" for x in r.load_start),
                " ".join(f"{x:.2f}" for x in r.load_end),
            ]
            for r in results
        ],
    )
    notes = [f"- {r.title}: {note}" for r in results for note in r.notes]
    parts = [
        "Machine (read when the run started):\n\n" + machine,
        f"Settings: {toggles} toggles, {options.interval} s apart, deadline {options.deadline} "
        f"s, {options.flags} flags, store {options.store} (PostgreSQL for two instances), "
        f"{options.processes} generator processes at nice {options.generator_nice}, heartbeat "
        f"{'flagd default (15 s)' if options.heartbeat is None else f'{options.heartbeat} s'}.",
        "Propagation (send of the admin toggle → event parsed by the subscriber):\n\n" + latency,
        "Per toggle, median / max over the toggles (the first subscriber's time is the write,"
        " commit and apply; last - first is the fan-out plus the generator's reading):\n\n" + split,
        "Targets:\n\n" + targets,
        "Memory (flagd VmRSS):\n\n" + memory,
        "CPU (utime + stime from /proc; the machine has 2 cores):\n\n" + cpu,
        "Runs:\n\n" + runs,
    ]
    if notes:
        parts.append("Notes:\n\n" + "\n".join(notes))
    return "\n\n".join(parts) + "\n"


def runs_table(results: Sequence[CaseResult]) -> str:
    """One row per case run: the figures to compare across runs and builds."""
    return markdown_table(
        [
            "case",
            "p50 ms",
            "p99 ms",
            "max ms",
            "p99 clear of a heartbeat",
            "missed",
            "toggle response p50 / p99 ms",
            "cores busy before",
            "PostgreSQL checkpoints (fsync ms) during toggles",
        ],
        [
            [
                r.title,
                _ms(percentile(r.overall.values_ms, 50)),
                _ms(percentile(r.overall.values_ms, 99)),
                _ms(max(r.overall.values_ms, default=float("nan"))),
                f"{_ms(percentile(r.clean.values_ms, 99))} ({r.toggles - r.heartbeat_hit} of "
                f"{r.toggles})",
                r.overall.missed + r.failed,
                f"{_ms(percentile(r.write_ms, 50))} / {_ms(percentile(r.write_ms, 99))}",
                f"{r.busy_before:.2f}",
                "" if r.checkpoints is None else f"{r.checkpoints[0]} ({r.checkpoints[1]:.0f})",
            ]
            for r in results
        ],
    )


def timeline(results: Sequence[CaseResult]) -> list[dict[str, object]]:
    """Per toggle: when it was sent, its response time and its spread, to line up with
    what else happened in flagd at that moment (a heartbeat, a GC pass, a reconcile)."""
    return [
        {
            "case": r.title,
            "toggle": index + 1,
            "sent": at,
            "response_ms": r.write_ms[index],
            "first_ms": r.first_ms[index],
            "p99_ms": r.toggle_p99_ms[index],
            "last_ms": r.last_ms[index],
        }
        for r in results
        for index, at in enumerate(r.sent)
    ]


def _build(raw: str) -> Build:
    label, _, directory = raw.partition("=")
    if not label or not directory:
        raise argparse.ArgumentTypeError("expected LABEL=DIR")
    path = Path(directory).resolve()
    if not (path / "flagd" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(f"no flagd package in {path}")
    return Build(label, None if path == Path(__file__).resolve().parent.parent else path)


def _env(raw: str) -> tuple[str, str]:
    name, sep, value = raw.partition("=")
    if not name or not sep:
        raise argparse.ArgumentTypeError("expected NAME=VALUE")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--toggles", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between toggles")
    parser.add_argument("--deadline", type=float, default=5.0, help="seconds until a miss")
    parser.add_argument("--flags", type=int, default=20, help="flags seeded (snapshot size)")
    parser.add_argument(
        "--store",
        choices=["postgres", "sqlite"],
        default="postgres",
        help="store of the single-instance cases",
    )
    parser.add_argument("--processes", type=int, default=4, help="generator processes")
    parser.add_argument(
        "--heartbeat",
        type=float,
        help="FLAGD_HEARTBEAT_INTERVAL for flagd (default: flagd's, 15 s)",
    )
    parser.add_argument(
        "--generator-nice",
        type=int,
        default=0,
        help="nice value of the generator processes (0: same as flagd)",
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        default=128,
        help="connections awaiting their snapshot, over all processes",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=3.0,
        help="seconds idle after the last snapshot before measuring",
    )
    parser.add_argument("--connect-timeout", type=float, default=300.0)
    parser.add_argument(
        "--max-busy",
        type=float,
        default=0.3,
        help="wait (bounded) until other work uses at most this many cores",
    )
    parser.add_argument("--quiet-timeout", type=float, default=90.0)
    parser.add_argument("--profile", type=Path, help="py-spy collapsed stacks of flagd A here")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument("--runs", type=int, default=1, help="repeat every case this often")
    parser.add_argument("--timeline", type=Path, help="write per-toggle figures (JSON) here")
    parser.add_argument(
        "--build",
        dest="builds",
        action="append",
        type=_build,
        metavar="LABEL=DIR",
        help="a flagd checkout to run (repeat to alternate builds; default: this tree)",
    )
    parser.add_argument(
        "--env",
        "--flagd-env",
        dest="env",
        action="append",
        type=_env,
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for flagd (repeatable)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    options = build_parser().parse_args(argv)
    builds: list[Build] = options.builds or [Build("this")]
    raise_nofile_limit()  # flagd inherits it: 10,000 streams need 10,000 descriptors
    machine = machine_notes_markdown()
    if len(builds) > 1 or builds[0].dir is not None:
        machine += "\n" + "\n".join(f"- build {b.label}: {b.dir or 'this tree'}" for b in builds)

    results: list[CaseResult] = []
    for run in range(1, options.runs + 1):
        for name in options.cases:
            for build in builds:
                label = "".join(
                    [
                        f" [{build.label}]" if len(builds) > 1 else "",
                        f" run {run}" if options.runs > 1 else "",
                    ]
                )
                print(f"== {name}{label}", file=sys.stderr, flush=True)
                result = run_case(CASES[name], options, build, label)
                results.append(result)
                print(
                    report([result], options, machine).split("Propagation", 1)[1],
                    file=sys.stderr,
                    flush=True,
                )
    text = report(results, options, machine)
    if len(results) > 1:
        text += "\nPer run:\n\n" + runs_table(results) + "\n"
    print(text)
    if options.markdown:
        options.markdown.write_text(text)
    if options.timeline:
        options.timeline.write_text(json.dumps(timeline(results), indent=1))


if __name__ == "__main__":
    main()
