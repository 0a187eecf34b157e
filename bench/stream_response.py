"""aiohttp-sse's EventSourceResponse against aiohttp's plain StreamResponse (issue 15).

    .venv/bin/python -m bench.stream_response                 # 3 rounds of each, alternating
    .venv/bin/python -m bench.stream_response --rounds 1 -- --toggles 10

Per variant per round, in the order A B B A A B ... so that drift in the machine's load
falls on both ("plain" is flagd as it is, with aiohttp's web.StreamResponse; "aiohttp-sse"
puts bench/variants/aiohttp_sse_response on flagd's PYTHONPATH, whose sitecustomize swaps
in aiohttp-sse's EventSourceResponse; it needs `.venv/bin/pip install aiohttp-sse`):

- bench/propagation.py's 1,000-subscriber case: propagation p50/p99, the connect phase
  (1,000 streams from the generator to their snapshots: wall time, streams per second,
  flagd CPU per stream) and RSS per idle subscriber;
- stream churn: `--churn-clients` clients in a loop of connect, read the snapshot, close,
  for `--churn-seconds` (SQLite, 20 flags, heartbeat 1 s so that closed streams are let
  go): streams per second and flagd CPU per stream.

Arguments after `--` go to bench.propagation (e.g. `--store postgres`, `--toggles 40`).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import propagation
from bench.common import (
    cpu_seconds,
    machine_notes_markdown,
    markdown_table,
    percentile,
    run_flagd,
    seed_flags,
)
from bench.sse_load import raise_nofile_limit

SSE = Path(__file__).resolve().parent / "variants" / "aiohttp_sse_response"
VARIANTS = {"plain": [], "aiohttp-sse": [f"PYTHONPATH={SSE}"]}


def order(rounds: int) -> list[str]:
    names = list(VARIANTS)
    return [name for r in range(rounds) for name in (names if r % 2 == 0 else names[::-1])]


def row(name: str, result: propagation.CaseResult) -> list[object]:
    values = result.overall.values_ms
    connect = result.connect_phase
    assert connect is not None
    return [
        name,
        f"{percentile(values, 50):.1f}",
        f"{percentile(values, 99):.1f}",
        result.overall.missed + result.failed,
        f"{result.connect_s:.2f}",
        f"{result.ready / result.connect_s:,.0f}",
        f"{connect.flagd_cpu_s * 1000 / max(1, result.ready):.2f}",
        f"{result.kib_per_subscriber:.1f}",
        f"{connect.others_cpu_s:.1f}",
    ]


async def churn(port: int, key: str, seconds: float, clients: int) -> int:
    """Streams opened, read up to the end of their snapshot and closed, by `clients` loops."""
    request = (
        f"GET /api/client/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Accept: text/event-stream\r\nX-SDK-Key: {key}\r\n\r\n"
    ).encode()
    end = time.monotonic() + seconds
    done = 0

    async def loop() -> None:
        nonlocal done
        while time.monotonic() < end:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await reader.readuntil(b"event: snapshot\n")
            await reader.readuntil(b"\n\n")
            writer.close()
            await writer.wait_closed()
            done += 1

    await asyncio.gather(*(loop() for _ in range(clients)))
    return done


def churn_row(name: str, seconds: float, clients: int) -> tuple[float, float]:
    """(streams per second, flagd CPU ms per stream) for one variant."""
    env = dict(env.split("=", 1) for env in VARIANTS[name])
    env["FLAGD_HEARTBEAT_INTERVAL"] = "1"
    with run_flagd("sqlite", extra_env=env) as daemon:
        assert daemon.process is not None
        seed_flags(daemon, 20)
        asyncio.run(churn(daemon.port, daemon.sdk_key or "", 1.0, clients))  # warm-up
        cpu_before, started = cpu_seconds(daemon.process.pid), time.monotonic()
        count = asyncio.run(churn(daemon.port, daemon.sdk_key or "", seconds, clients))
        wall = time.monotonic() - started
        cpu = cpu_seconds(daemon.process.pid) - cpu_before
    return count / wall, cpu * 1000 / count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--churn-seconds", type=float, default=5.0)
    parser.add_argument("--churn-clients", type=int, default=8)
    parser.add_argument("rest", nargs="*", help="after --: options for bench.propagation")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("aiohttp_sse") is None:
        print("aiohttp-sse is not installed: .venv/bin/pip install aiohttp-sse", file=sys.stderr)
        return 2
    raise_nofile_limit()
    print(machine_notes_markdown())
    case = propagation.CASES["single-1k"]
    rows: list[list[object]] = []
    by_variant: dict[str, list[propagation.CaseResult]] = {name: [] for name in VARIANTS}
    churned: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
    churn_rows: list[list[object]] = []
    for name in order(args.rounds):
        print(f"== {name}: churn", file=sys.stderr, flush=True)
        rate, cpu_ms = churn_row(name, args.churn_seconds, args.churn_clients)
        churned[name].append((rate, cpu_ms))
        churn_rows.append([name, f"{rate:,.0f}", f"{cpu_ms:.3f}"])
        print(churn_rows[-1], file=sys.stderr, flush=True)
    for name in order(args.rounds):
        extra = [arg for env in VARIANTS[name] for arg in ("--flagd-env", env)]
        options = propagation.build_parser().parse_args(["--store", "sqlite", *args.rest, *extra])
        print(f"== {name}", file=sys.stderr, flush=True)
        result = propagation.run_case(case, options)
        by_variant[name].append(result)
        rows.append(row(name, result))
        print(markdown_table(HEADERS, rows[-1:]), file=sys.stderr, flush=True)
    print()
    print(f"Stream churn ({args.churn_clients} clients, {args.churn_seconds:g} s per run):\n")
    print(markdown_table(["variant", "streams/s", "flagd CPU ms/stream"], churn_rows))
    print()
    print("Propagation case, 1,000 subscribers:\n")
    print(markdown_table(HEADERS, rows))
    print()
    medians = []
    for name, results in by_variant.items():
        medians.append(
            [
                name,
                f"{statistics.median(percentile(r.overall.values_ms, 50) for r in results):.1f}",
                f"{statistics.median(percentile(r.overall.values_ms, 99) for r in results):.1f}",
                f"{statistics.median(r.ready / r.connect_s for r in results):,.0f}",
                f"{statistics.median(cpu_ms_per_stream(r) for r in results):.2f}",
                f"{statistics.median(r.kib_per_subscriber for r in results):.1f}",
                f"{statistics.median(rate for rate, _ in churned[name]):,.0f}",
                f"{statistics.median(cpu for _, cpu in churned[name]):.3f}",
            ]
        )
    print(
        markdown_table(
            [
                "variant (median of runs)",
                "p50 ms",
                "p99 ms",
                "streams/s",
                "flagd CPU ms/stream",
                "KiB/subscriber",
                "churn streams/s",
                "churn flagd CPU ms/stream",
            ],
            medians,
        )
    )
    return 0


def cpu_ms_per_stream(result: propagation.CaseResult) -> float:
    assert result.connect_phase is not None
    return result.connect_phase.flagd_cpu_s * 1000 / max(1, result.ready)


HEADERS = [
    "variant",
    "p50 ms",
    "p99 ms",
    "missed",
    "connect s",
    "streams/s",
    "flagd CPU ms/stream (connect)",
    "KiB/subscriber",
    "other CPU s (connect)",
]

if __name__ == "__main__":
    sys.exit(main())
