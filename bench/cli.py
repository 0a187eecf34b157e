"""flagctl: start-up and offline evaluation.

    .venv/bin/python -m bench.cli          # writes bench/out/cli.md (see RESULTS.md, 5)
    .venv/bin/python -m bench.cli --runs 10 --users 2000 --output -

Wall time of `flagctl --help`, of `flagctl eval user-42` offline with 1,000 flags cached
(flagd stopped), and of `flagctl list` against a flagd holding 1,000 flags (stdout piped,
so plain lines). Measured with hyperfine when it is installed (3 warm-up runs, then
`--runs`), else with a loop of subprocess runs; the median, min and max are reported.
Then `flagctl eval --users FILE` for 1,000 flags x 10,000 users, output to /dev/null:
evaluations per second, start-up included. flagctl runs with its own HOME and XDG
directories, so the real home is never touched; each case waits for a quiet machine first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import (
    REPO,
    machine_notes_markdown,
    markdown_table,
    run_flagd,
    seed_flags,
    wait_for_quiet,
)

FLAGCTL = REPO / ".venv" / "bin" / "flagctl"
TARGET_MS = {"flagctl --help": 150.0, "flagctl eval user-42 (offline)": 150.0}
FLAGS = 1_000


def env_for(home: Path, server: str, admin_key: str = "", sdk_key: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLAGCTL_", "XDG_"))}
    env.pop("FLAGD_DATA_DIR", None)
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        FLAGCTL_SERVER=server,
    )
    if admin_key:
        env["FLAGCTL_ADMIN_KEY"] = admin_key
    if sdk_key:
        env["FLAGCTL_SDK_KEY"] = sdk_key
    return env


def wall_ms(args: list[str], env: dict[str, str], runs: int, work: Path) -> dict[str, float]:
    """Median, min and max wall milliseconds of `flagctl ARGS`, stdout and stderr discarded."""
    check = subprocess.run([str(FLAGCTL), *args], env=env, capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit(f"flagctl {' '.join(args)} failed: {check.stderr}")
    busy = wait_for_quiet(max_wait=120)
    if shutil.which("hyperfine"):
        out = work / "hyperfine.json"
        subprocess.run(
            [
                "hyperfine",
                "--shell=none",
                "--warmup",
                "3",
                "--runs",
                str(runs),
                "--export-json",
                str(out),
                "--style",
                "none",
                " ".join([str(FLAGCTL), *args]),
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        times = json.loads(out.read_text())["results"][0]["times"]
    else:
        times = []
        for _ in range(runs + 3):
            start = time.perf_counter()
            subprocess.run(
                [str(FLAGCTL), *args],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
            )
            times.append(time.perf_counter() - start)
        times = times[3:]
    return {
        "median": statistics.median(times) * 1000,
        "min": min(times) * 1000,
        "max": max(times) * 1000,
        "busy": busy,
    }


def eval_throughput(env: dict[str, str], users: int, work: Path) -> dict[str, float]:
    path = work / "users.txt"
    path.write_text("".join(f"user-{n}\n" for n in range(users)))
    busy = wait_for_quiet(max_wait=120)
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run(
            [str(FLAGCTL), "eval", "--users", str(path)],
            env=env,
            stdout=sink,
            stderr=subprocess.DEVNULL,
            check=True,
        )
    seconds = time.perf_counter() - start
    line = subprocess.run(
        [str(FLAGCTL), "eval", "user-0", "--json"], env=env, capture_output=True, check=True
    ).stdout
    return {
        "seconds": seconds,
        "evaluations": users * FLAGS,
        "per_second": users * FLAGS / seconds,
        "busy": busy,
        "bytes_per_line": len(json.dumps(json.loads(line), separators=(",", ":"))) + 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument(
        "--output",
        default=str(REPO / "bench" / "out" / "cli.md"),
        help="Markdown report path, or - for stdout",
    )
    args = parser.parse_args()

    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="flagctl-bench-") as tmp:
        work = Path(tmp)
        home = work / "home"
        with run_flagd("sqlite") as daemon:
            seed_flags(daemon, FLAGS)
            env = env_for(home, daemon.url, daemon.admin_key or "", daemon.sdk_key or "")
            subprocess.run([str(FLAGCTL), "pull"], env=env, check=True, capture_output=True)
            print("flagctl list …")
            listed = wall_ms(["list"], env, args.runs, work)
            server = daemon.url
        # flagd is stopped from here on: eval reads only the cached snapshot.
        offline = env_for(home, server)
        print("flagctl --help …")
        helped = wall_ms(["--help"], offline, args.runs, work)
        print("flagctl eval user-42 …")
        evaluated = wall_ms(["eval", "user-42"], offline, args.runs, work)
        print(f"flagctl eval --users ({args.users} users) …")
        throughput = eval_throughput(offline, args.users, work)

    for name, result in (
        ("flagctl --help", helped),
        ("flagctl eval user-42 (offline)", evaluated),
        (f"flagctl list ({FLAGS} flags, piped)", listed),
    ):
        target = TARGET_MS.get(name)
        verdict = "-" if target is None else ("met" if result["median"] <= target else "MISSED")
        rows.append(
            [
                name,
                f"{result['median']:.0f}",
                f"{result['min']:.0f}",
                f"{result['max']:.0f}",
                "-" if target is None else f"≤ {target:.0f}",
                verdict,
                f"{result['busy']:.2f}",
            ]
        )
    tool = (
        "hyperfine --shell=none --warmup 3"
        if shutil.which("hyperfine")
        else "(a subprocess loop, 3 warm-up runs)"
    )
    report = "\n".join(
        [
            "# flagctl benchmarks",
            "",
            f"Run with `.venv/bin/python -m bench.cli` ({args.runs} runs per case, {tool}).",
            f"{FLAGS} flags seeded into a SQLite flagd (`bench.common.seed_flags`), pulled once;",
            "`eval` runs with flagd stopped. flagctl has its own HOME/XDG dirs.",
            "",
            "## Start-up and commands (wall time, ms)",
            "",
            markdown_table(["command", "median", "min", "max", "target", "", "other load"], rows),
            "",
            "Other load: CPU cores busy with other processes just before the case (the machine",
            "is shared; each case waits up to 2 minutes for it to fall below 0.15 cores).",
            "",
            "## Offline evaluation from a file",
            "",
            f"`flagctl eval --users users.txt > /dev/null`: {FLAGS} flags x {args.users} users = "
            f"{throughput['evaluations']:,} evaluations in {throughput['seconds']:.1f} s, "
            f"**{throughput['per_second']:,.0f} evaluations/s** (start-up and JSON encoding "
            f"included; one {throughput['bytes_per_line']:,}-byte JSON line per user; other "
            f"load {throughput['busy']:.2f} cores).",
            "",
            "## Commands",
            "",
            "```",
            f"{tool} --runs {args.runs} '.venv/bin/flagctl --help'",
            f"{tool} --runs {args.runs} '.venv/bin/flagctl eval user-42'   # flagd stopped",
            f"{tool} --runs {args.runs} '.venv/bin/flagctl list'           # > /dev/null",
            "time .venv/bin/flagctl eval --users users.txt > /dev/null   # user-0 … user-9999",
            "```",
            "",
            "with FLAGCTL_SERVER (and, for `list`, FLAGCTL_ADMIN_KEY and FLAGCTL_SDK_KEY) set and",
            "XDG_CACHE_HOME holding the snapshot `flagctl pull` saved.",
            "",
            "## Machine",
            "",
            machine_notes_markdown(),
            "",
        ]
    )
    if args.output == "-":
        print(report)
    else:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(report)
        print(f"wrote {args.output}")
        print(report)


if __name__ == "__main__":
    main()
