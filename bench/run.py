"""`make bench`: the gateway's throughput and latency against the aiohttp ceiling.

One run starts every server the scenarios need, each in its own process on a free
loopback port, and drives them with wrk from another process: a warm-up, then the
scenarios in turn (alternating, so that a slow moment of the machine does not land
on one side only) for several rounds. It prints the median req/s, p50 and p99 of
each scenario and the ratios between them, and exits non-zero when anything fails:
a server that does not start or dies, wrk failing, or any non-2xx answer or socket
error during a run.

A later benchmark is one more `Scenario` in SCENARIOS (and a `Server` in SERVERS
when it needs another process); a POST with a body gets a wrk Lua script.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from secgate.settings import Settings
from secgate.storage.migrate import upgrade

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent

HOST = "127.0.0.1"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0

# How each server is started: (port, private work dir) -> (argv, environment).
Launch = Callable[[int, Path], tuple[list[str], dict[str, str]]]


@dataclass(frozen=True)
class Server:
    name: str
    launch: Launch
    ready_path: str  # answers 200 once the server can be measured
    note: str  # how it is set up, printed with the results


@dataclass(frozen=True)
class Scenario:
    name: str
    server: str
    path: str
    wrk_script: Path | None = None  # Lua, for another method or a body


def launch_hello(port: int, _workdir: Path) -> tuple[list[str], dict[str, str]]:
    argv = [sys.executable, str(BENCH_DIR / "hello_server.py"), "--port", str(port)]
    return argv, dict(os.environ)


def launch_gateway(port: int, workdir: Path) -> tuple[list[str], dict[str, str]]:
    database_url = f"sqlite+aiosqlite:///{workdir / 'secgate.db'}"
    upgrade(database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECGATE_")}
    env |= {
        "SECGATE_HOST": HOST,
        "SECGATE_PORT": str(port),
        "SECGATE_DATABASE_URL": database_url,
        "SECGATE_VAR_DIR": str(workdir / "var"),
        # INFO would add a JSON access-log line per request; the ceiling logs nothing.
        "SECGATE_LOG_LEVEL": "WARNING",
    }
    # The GeoIP file `make run` installed (var/ is ours; the gateway's lives elsewhere).
    geoip_db = Settings.from_env().geoip_db
    if geoip_db.exists():
        env["SECGATE_GEOIP_DB"] = str(geoip_db)
    return [sys.executable, str(REPO / "server.py")], env


SERVERS = {
    server.name: server
    for server in [
        Server("hello", launch_hello, "/", "aiohttp, one handler returning 'ok', no access log"),
        Server(
            "gateway",
            launch_gateway,
            "/healthz",
            "server.py: fresh migrated SQLite, in-process hot state, "
            "SECGATE_LOG_LEVEL=WARNING (no per-request log lines)",
        ),
    ]
}

SCENARIOS = [
    Scenario("hello", "hello", "/"),
    Scenario("healthz", "gateway", "/healthz"),
]

# (numerator, denominator): printed as the numerator's share of the denominator.
RATIOS = [("healthz", "hello")]


@dataclass(frozen=True)
class Measurement:
    requests_per_s: float
    p50_ms: float
    p99_ms: float


class BenchError(Exception):
    """The run cannot give trustworthy numbers; the message says why."""


@dataclass
class Running:
    server: Server
    port: int
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def started(server: Server, workdir: Path) -> Iterator[Running]:
    """Start `server` on a free port, wait until it answers, stop it afterwards."""
    port = free_port()
    server_dir = workdir / server.name
    server_dir.mkdir()
    argv, env = server.launch(port, server_dir)
    log = server_dir / "output.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    running = Running(server, port, process, log)
    try:
        wait_ready(running)
        yield running
    finally:
        stop(process)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_ready(running: Running) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        check_alive(running)
        connection = http.client.HTTPConnection(HOST, running.port, timeout=1)
        try:
            connection.request("GET", running.server.ready_path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.1)
    raise BenchError(
        f"{running.server.name} did not answer 200 on {running.server.ready_path} "
        f"within {READY_TIMEOUT_S:.0f} s\n{tail(running.log)}"
    )


def check_alive(running: Running) -> None:
    code = running.process.poll()
    if code is not None:
        raise BenchError(f"{running.server.name} exited with code {code}\n{tail(running.log)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(log: Path, lines: int = 20) -> str:
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(f"  | {line}" for line in text) or "  | (no output)"


@dataclass(frozen=True)
class Load:
    threads: int
    connections: int
    duration_s: int


def run_wrk(url: str, load: Load, duration_s: int, script: Path | None) -> Measurement:
    argv = [
        "wrk", f"--threads={load.threads}", f"--connections={load.connections}",
        f"--duration={duration_s}s", "--timeout=5s", "--latency",
    ]  # fmt: skip
    if script is not None:
        argv.append(f"--script={script}")
    argv.append(url)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 30)
    except FileNotFoundError as exc:
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)") from exc
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish: {' '.join(argv)}") from exc
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout, url)


_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk(output: str, url: str) -> Measurement:
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if errors and any(int(n) for n in errors.groups()):
        raise BenchError(f"{url}: {errors.group(0)}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise BenchError(f"{url}: {non_2xx.group(1)} answers were not 2xx or 3xx")
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if rate is None:
        raise BenchError(f"cannot read wrk's output:\n{output}")
    return Measurement(
        requests_per_s=float(rate.group(1)),
        p50_ms=_percentile_ms(output, "50%"),
        p99_ms=_percentile_ms(output, "99%"),
    )


def _percentile_ms(output: str, label: str) -> float:
    found = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
    if found is None:
        raise BenchError(f"no {label} latency in wrk's output:\n{output}")
    return float(found.group(1)) * _TIME_UNITS_MS[found.group(2)]


def median(measurements: list[Measurement]) -> Measurement:
    return Measurement(
        requests_per_s=statistics.median(m.requests_per_s for m in measurements),
        p50_ms=statistics.median(m.p50_ms for m in measurements),
        p99_ms=statistics.median(m.p99_ms for m in measurements),
    )


def benchmark(
    scenarios: list[Scenario], load: Load, rounds: int, warmup_s: int
) -> dict[str, list[Measurement]]:
    results: dict[str, list[Measurement]] = {s.name: [] for s in scenarios}
    with tempfile.TemporaryDirectory(prefix="secgate-bench-") as tmp, ExitStack() as stack:
        running = {
            name: stack.enter_context(started(SERVERS[name], Path(tmp)))
            for name in dict.fromkeys(s.server for s in scenarios)
        }

        def url(scenario: Scenario) -> str:
            return f"http://{HOST}:{running[scenario.server].port}{scenario.path}"

        if warmup_s > 0:
            for scenario in scenarios:
                run_wrk(url(scenario), load, warmup_s, scenario.wrk_script)
        for number in range(1, rounds + 1):
            for scenario in scenarios:
                measured = run_wrk(url(scenario), load, load.duration_s, scenario.wrk_script)
                check_alive(running[scenario.server])
                results[scenario.name].append(measured)
                print(
                    f"  round {number}/{rounds} {scenario.name:<10} "
                    f"{measured.requests_per_s:>10,.0f} req/s  p50 {measured.p50_ms:7.2f} ms"
                    f"  p99 {measured.p99_ms:7.2f} ms",
                    flush=True,
                )
    return results


def report(
    scenarios: list[Scenario], results: dict[str, list[Measurement]], load: Load
) -> dict[str, object]:
    medians = {name: median(ms) for name, ms in results.items()}
    rounds = len(next(iter(results.values())))
    print(
        f"\nmedian of {rounds} rounds, each wrk -t{load.threads} -c{load.connections} "
        f"-d{load.duration_s}s on loopback "
        f"({os.cpu_count()} CPUs, Python {platform.python_version()})"
    )
    print(f"{'scenario':<12}{'server':<10}{'path':<12}{'req/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for scenario in scenarios:
        m = medians[scenario.name]
        print(
            f"{scenario.name:<12}{scenario.server:<10}{scenario.path:<12}"
            f"{m.requests_per_s:>12,.0f}{m.p50_ms:>10.2f}{m.p99_ms:>10.2f}"
        )
    ratios: dict[str, dict[str, float]] = {}
    for top, bottom in RATIOS:
        if top in medians and bottom in medians:
            a, b = medians[top], medians[bottom]
            ratios[f"{top}/{bottom}"] = {
                "requests_per_s": a.requests_per_s / b.requests_per_s,
                "p50": a.p50_ms / b.p50_ms,
                "p99": a.p99_ms / b.p99_ms,
            }
            r = ratios[f"{top}/{bottom}"]
            print(
                f"\n{top}/{bottom}: req/s x{r['requests_per_s']:.2f}, "
                f"p50 x{r['p50']:.2f}, p99 x{r['p99']:.2f}"
            )
    print()
    for name in dict.fromkeys(s.server for s in scenarios):
        print(f"{name}: {SERVERS[name].note}")
    return {
        "load": asdict(load),
        "rounds": {name: [asdict(m) for m in ms] for name, ms in results.items()},
        "medians": {name: asdict(m) for name, m in medians.items()},
        "ratios": ratios,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration-s", type=int, default=10, help="of each measured run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup-s", type=int, default=2, help="per scenario, not measured")
    parser.add_argument("--only", action="append", metavar="SCENARIO", help="repeatable")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    args = parser.parse_args()

    scenarios = [s for s in SCENARIOS if not args.only or s.name in args.only]
    unknown = set(args.only or ()) - {s.name for s in SCENARIOS}
    if unknown or not scenarios:
        parser.error(f"unknown scenario(s) {sorted(unknown)}; known: {[s.name for s in SCENARIOS]}")
    if min(args.threads, args.connections, args.duration_s, args.rounds) < 1:
        parser.error("--threads, --connections, --duration-s and --rounds must be at least 1")
    load = Load(args.threads, args.connections, args.duration_s)

    try:
        results = benchmark(scenarios, load, args.rounds, args.warmup_s)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    summary = report(scenarios, results, load)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
