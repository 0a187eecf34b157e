"""CPU instructions per conditional GET of /api/client/flags, counted by valgrind.

    .venv/bin/python -m bench.request_cost                      # this tree, log off and on
    .venv/bin/python -m bench.request_cost --build before=/tmp/old --env FLAGD_EVENT_LOOP=asyncio

Requests per second on this 2-core VM move by ±30 % from run to run, too much to show a
10 % difference. Instructions do not: flagd runs under `valgrind --tool=callgrind`, serves
N and then 6·N conditional GETs (If-None-Match: the current ETag, so the 304 path) sent
in pipelined bursts of 50 over one connection, as many clients at once would send them;
the difference of the two totals over 5·N requests is the cost of one request, start-up
and shutdown cancelled out. Each configuration is one flagd with 20 flags.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from tests.daemon import SDK_KEY, Flagd

BURST = 50


def conditional_gets(port: int, count: int, etag: str) -> None:
    request = (
        f"GET /api/client/flags HTTP/1.1\r\nHost: x\r\nX-SDK-Key: {SDK_KEY}\r\n"
        f"If-None-Match: {etag}\r\n\r\n"
    ).encode()
    buffered = b""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(count // BURST):
            sock.sendall(request * BURST)
            for _ in range(BURST):
                while b"\r\n\r\n" not in buffered:
                    buffered += sock.recv(65536)
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                if b" 304 " not in head.split(b"\r\n", 1)[0]:
                    raise RuntimeError(f"expected a 304, got {head[:80]!r}")


class ValgrindFlagd(Flagd):
    """flagd under callgrind, started from `source` (its package is what `-m flagd` finds)."""

    def __init__(self, source: Path, out: Path, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.source, self.out = source, out

    def start(self, wait_ready: bool = True, timeout: float = 300.0) -> Flagd:
        real_popen = subprocess.Popen

        def popen(args: list[str], **options: object) -> subprocess.Popen[bytes]:
            wrapped = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.out}", *args]
            return real_popen(wrapped, cwd=self.source, **options)  # type: ignore[call-overload,no-any-return]

        subprocess.Popen = popen  # type: ignore[assignment,misc]
        try:
            return super().start(wait_ready, timeout)
        finally:
            subprocess.Popen = real_popen  # type: ignore[misc]


def instructions(source: Path, env: dict[str, str], count: int) -> int:
    with tempfile.TemporaryDirectory(prefix="flagd-cost-") as work:
        out = Path(work) / "callgrind.out"
        daemon = ValgrindFlagd(source, out, data_dir=Path(work) / "data", extra_env=env)
        daemon.start()
        try:
            with daemon.admin() as admin:
                for index in range(20):
                    admin.post("/api/admin/flags", json={"key": f"cost-{index}", "enabled": True})
            etag = httpx.get(
                daemon.url + "/api/client/flags", headers={"X-SDK-Key": SDK_KEY}, timeout=60
            ).headers["ETag"]
            conditional_gets(daemon.port, count, etag)
        finally:
            daemon.stop(timeout=120)
        totals = [line for line in out.read_text().splitlines() if line.startswith("totals:")]
        return int(totals[-1].split()[1])


def per_request(source: Path, env: dict[str, str], base: int) -> float:
    low = instructions(source, env, base)
    high = instructions(source, env, 6 * base)
    return (high - low) / (5 * base)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="append", default=[], metavar="LABEL=DIR")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--requests", type=int, default=200, help="N (the runs serve N and 6N)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian's package valgrind)", file=sys.stderr)
        return 2
    builds = [("this tree", Path(__file__).resolve().parent.parent)]
    builds += [(b.split("=", 1)[0], Path(b.split("=", 1)[1]).resolve()) for b in args.build]
    env = dict(item.split("=", 1) for item in args.env)
    print("| build | environment | access log | instructions per 304 |")
    print("|---|---|---|---|")
    for label, source in builds:
        for log in ("false", "true"):
            cost = per_request(source, {**env, "FLAGD_ACCESS_LOG": log}, args.requests)
            shown = " ".join(f"{k}={v}" for k, v in env.items()) or "(default)"
            print(f"| {label} | {shown} | {'on' if log == 'true' else 'off'} | {cost:,.0f} |")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
