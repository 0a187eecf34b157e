"""Where flagd's CPU goes on GET /api/client/flags: py-spy on the daemon under wrk load.

    .venv/bin/pip install py-spy                       # once
    .venv/bin/python -m bench.profile_client --path 200 --access-log off
    .venv/bin/python -m bench.profile_client --path 304 --access-log on

Starts flagd on SQLite with 1,000 flags, puts it under `wrk -t2 -c50` load, and records
10 s of py-spy samples (200 Hz; py-spy pauses the process per sample for exact stacks, so
the req/s printed here is a little below bench.client_flags'). Prints the functions with
the most self time and, inclusive, the request stages that matter (sending, routing,
middleware, metrics, access log). The raw collapsed stacks are kept with --raw FILE.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import REPO, run_flagd, seed_flags, wait_for_quiet

STAGES = (
    ("send (socket write syscalls)", "_SelectorSocketTransport.write"),
    ("aiohttp write_eof (response body + headers out)", "StreamWriter.write_eof"),
    ("read + parse request", "_read_ready__data_received"),
    ("flagd middleware pipeline", "build_middleware.<locals>.pipeline"),
    ("flagd metrics (prometheus-client)", "Metrics.observe_request"),
    ("flagd client_flags handler", "client_flags"),
    ("access log (AccessLogger.log)", "AccessLogger.log"),
    ("  of which StreamHandler.emit (format + write + flush)", "StreamHandler.emit"),
    ("  of which LogRecord creation", "Logger.makeRecord"),
    ("route resolution", "UrlDispatcher.resolve"),
)


def frame_name(frame: str) -> str:
    """`func (path:line)` → `func (short path)`."""
    frame = frame.strip()
    if " (" not in frame:
        return frame
    func, where = frame.split(" (", 1)
    where = where.rstrip(")").rsplit(":", 1)[0]
    for prefix in (str(REPO / ".venv/lib/python3.11/site-packages") + "/", str(REPO) + "/"):
        where = where.replace(prefix, "")
    return f"{func} ({where})"


def summarise(raw: Path, top: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [frame_name(f) for f in stack.split(";")]
        own[frames[-1]] += samples
        for name in set(frames):
            inclusive[name] += samples
    lines = [f"{total} samples", "", "| self % | function |", "|---|---|"]
    lines += [f"| {100 * n / total:.1f} | `{name}` |" for name, n in own.most_common(top)]
    lines += ["", "| inclusive % | stage |", "|---|---|"]
    for label, needle in STAGES:
        share = max((n for name, n in inclusive.items() if needle in name), default=0)
        lines.append(f"| {100 * share / total:.1f} | {label} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", choices=["200", "304"], default="200")
    parser.add_argument("--access-log", choices=["on", "off"], default="off")
    parser.add_argument("--flags", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    args = parser.parse_args(argv)

    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if shutil.which("wrk") is None or not Path(py_spy).exists():
        print(
            "needs wrk (apt-get install -y wrk) and py-spy (.venv/bin/pip install py-spy)",
            file=sys.stderr,
        )
        return 2

    with (
        run_flagd("sqlite", access_log=args.access_log == "on") as daemon,
        tempfile.TemporaryDirectory() as tmp,
    ):
        seed_flags(daemon, args.flags)
        url = daemon.url + "/api/client/flags"
        headers = ["-H", f"X-SDK-Key: {daemon.sdk_key}"]
        if args.path == "304":
            etag = httpx.get(url, headers={"X-SDK-Key": daemon.sdk_key or ""}).headers["ETag"]
            headers += ["-H", f"If-None-Match: {etag}"]
        pid = daemon.process.pid  # type: ignore[union-attr]
        wait_for_quiet(exclude=[pid])
        raw = args.raw or Path(tmp) / "stacks.txt"
        wrk = subprocess.Popen(
            ["wrk", "-t2", "-c50", f"-d{args.seconds + 2}s", *headers, url],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1)
        subprocess.run(
            [
                py_spy,
                "record",
                "-p",
                str(pid),
                "-d",
                str(args.seconds),
                "-r",
                "200",
                "-f",
                "raw",
                "-o",
                str(raw),
            ],
            check=True,
            capture_output=True,
        )
        output, _ = wrk.communicate()
        rps = next((line for line in output.splitlines() if "Requests/sec" in line), "?")
        print(
            f"path {args.path}, access log {args.access_log}, {args.flags} flags; "
            f"wrk under py-spy: {rps.strip()}"
        )
        print()
        print(summarise(raw, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
