"""`make bench`: the gateway's throughput and latency against the aiohttp ceiling.

Scenarios, each measured in several rounds (median printed):

- hello: the ceiling of this machine, an aiohttp handler answering "ok"
  (bench/hello_server.py), with `wrk`.
- healthz: the gateway's `GET /healthz`, with `wrk`.
- send1: the kwtSMS send API, `POST /API/send/` (JSON: username, password, sender,
  mobile, message, test=1) in test mode, one number per request, with `wrk` and
  bench/kwtsms_send.lua. req/s, recipients/s (= req/s), p50 and p99.
- send200: the same with 200 numbers per request (16 connections: one such request
  takes tens of milliseconds of the gateway's CPU); recipients/s = 200 x req/s.
  Aim of issue 3: at least 10,000 recipients/s accepted.
- dispatch: the dispatcher the gateway process runs (secgate/sms/dispatcher.py, its
  default settings) taking N recipients queued for delivery to the sandbox connector:
  time from queueing until none is QUEUED (all SUBMITTED), and until every receipt
  is recorded. Prints recipients/s (one SMS each: messages/s). Aim: 2,000/s.
  How the recipients are queued: bench/sms_load.py.
- check1: the pre-send content check, `POST /api/v1/checks/message` with a pipeline
  token (bench/checks_message.lua cycles through transactional and spam messages):
  req/s, p50, p99 and the ratio to hello. The model alone: bench/spam_model.py.
- check1u: the same check for an account ("username": a bench account, sender one of
  its sender IDs, CHECK_RECIPIENTS recipients): the account is read from the database
  on every request, and the pumping and send-rate checks judge the recipients (as a
  dry run: nothing counted, so every request is judged alike).

One run sets up the stores (bench/stores.py): a fresh PostgreSQL database
`secgate_bench_<pid>` on --pg-admin-url, migrated with Alembic, and a Redis database
of its own on --redis-url (by default the servers of the test suite, which
`make bench` starts like `make test`); both are removed at the end. It starts every server the
scenarios need, each in its own process on a free loopback port: the hello-world, and
the gateway (`server.py` on that database and Redis, log level WARNING so that no
per-request line is written, the sandbox connector). wrk runs from another process: a
warm-up per scenario, then the scenarios in turn (alternating, so that a slow moment
of the machine does not land on one side only) for several rounds.

The send scenarios send from an account of their own per run (made with the library,
as `python -m secgate user create --balance N` and `sender add` would), whose numbers
never repeat within a run: the gateway answers ERR028 to a number sent to within
15 s. Before each run one send is checked in full; during it, every answer must be
2xx and say "result": "OK" (checked by the Lua script); after it, the database must
hold a recipient for every number wrk counted.

It prints each round, the medians, the ratio of each gateway scenario's req/s, p50
and p99 to hello's, and the aims. It exits non-zero when anything fails: a store or
server that does not start or dies, wrk failing, any non-2xx answer, a send not
"OK", a socket error, or a drain that loses or repeats a recipient. Missing an aim
is reported, not a failure.

`--quick` is one short round (about 30 s), to try the harness; `--only SCENARIO`
runs some scenarios; `--gateway-env SECGATE_NAME=VALUE` changes a gateway setting
(e.g. SECGATE_DISPATCH_WORKERS=8); `--json FILE` also writes the results. A later benchmark
is one more `Scenario` in SCENARIOS (and a `Server` in SERVERS when it needs another
process); a POST with a body gets a wrk Lua script.
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
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from sms_load import (
    NUMBER_SPACE,
    BenchAccount,
    LoadError,
    accepted_recipients,
    bench_number,
    check_number_space,
    check_sample_send,
    create_accounts,
    create_pipeline_token,
    drain,
    warm_credentials,
)
from stores import DEFAULT_PG_ADMIN_URL, DEFAULT_REDIS_URL, BenchStores, StoreError, bench_stores

from secgate.settings import Settings

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent

HOST = "127.0.0.1"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
SEND_SCRIPT = BENCH_DIR / "kwtsms_send.lua"
CHECK_SCRIPT = BENCH_DIR / "checks_message.lua"
# check1u's recipients: a few valid Kuwaiti mobiles, the same in every request.
CHECK_RECIPIENTS = ("96550000001", "96555000002", "96566000003")

# How each server is started: (port, private work dir, stores, extra environment)
# -> (argv, environment).
Launch = Callable[[int, Path, BenchStores, dict[str, str]], tuple[list[str], dict[str, str]]]


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
    path: str = ""  # what wrk requests; "" for the drain
    wrk_script: Path | None = None  # Lua, for another method or a body
    # Sends (kwtsms_send.lua, test mode): numbers per request. 0: not a send.
    numbers_per_request: int = 0
    # The dispatcher's drain instead of wrk.
    drain: bool = False
    # The script's argument is a pipeline token (Authorization: Bearer).
    pipeline_token: bool = False
    # With the token: the check names a bench account (checks_message.lua's USERNAME).
    check_account: bool = False
    # wrk connections, when not --connections: a 200-number send takes tens of
    # milliseconds of the gateway's CPU, so 64 at once would wait for seconds (and
    # reach wrk's timeout) without adding throughput.
    connections: int | None = None


def launch_hello(
    port: int, _workdir: Path, _stores: BenchStores, _extra: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    argv = [sys.executable, str(BENCH_DIR / "hello_server.py"), "--port", str(port)]
    return argv, dict(os.environ)


def gateway_env(stores: BenchStores, extra: dict[str, str]) -> dict[str, str]:
    """The gateway's SECGATE_* settings: the bench stores, no per-request log line,
    and whatever --gateway-env adds; nothing from the caller's environment."""
    env = {
        "SECGATE_HOST": HOST,
        "SECGATE_DATABASE_URL": stores.database_url,
        "SECGATE_REDIS_URL": stores.redis_url,
        # INFO would add a JSON access-log line per request; the ceiling logs nothing.
        "SECGATE_LOG_LEVEL": "WARNING",
        # The bench's numbers are consecutive, by construction: the sequential-number
        # detector would refuse every send. One account sends far more than the
        # per-account rate limit allows. (The other pumping checks still run and count;
        # the prefix spike needs a day of the account's history, which a bench account
        # never has.)
        "SECGATE_PUMPING_SEQUENCE_MIN_RUN": "0",
        "SECGATE_PUMPING_MAX_RECIPIENTS_PER_MINUTE": "0",
        "SECGATE_PUMPING_MAX_RECIPIENTS_PER_HOUR": "0",
    }
    return env | extra


def launch_gateway(
    port: int, workdir: Path, stores: BenchStores, extra: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECGATE_")}
    env |= gateway_env(stores, extra)
    env |= {"SECGATE_PORT": str(port), "SECGATE_VAR_DIR": str(workdir / "var")}
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
            "server.py: fresh migrated PostgreSQL database, Redis hot state, sandbox "
            "connector, SECGATE_LOG_LEVEL=WARNING (no per-request log lines)",
        ),
    ]
}

SCENARIOS = [
    Scenario("hello", "hello", "/"),
    Scenario("healthz", "gateway", "/healthz"),
    Scenario("send1", "gateway", "/API/send/", SEND_SCRIPT, numbers_per_request=1),
    Scenario(
        "send200", "gateway", "/API/send/", SEND_SCRIPT, numbers_per_request=200, connections=16
    ),
    Scenario("dispatch", "gateway", drain=True),
    Scenario("check1", "gateway", "/api/v1/checks/message", CHECK_SCRIPT, pipeline_token=True),
    Scenario(
        "check1u",
        "gateway",
        "/api/v1/checks/message",
        CHECK_SCRIPT,
        pipeline_token=True,
        check_account=True,
    ),
]

# (numerator, denominator): printed as the numerator's share of the denominator.
RATIOS = [
    ("healthz", "hello"),
    ("send1", "hello"),
    ("send200", "hello"),
    ("check1", "hello"),
    ("check1u", "hello"),
]


@dataclass(frozen=True)
class Aim:
    scenario: str
    recipients_per_s: float
    what: str


AIMS = [
    Aim("send200", 10_000, "recipients/s accepted in 200-number requests"),
    Aim("dispatch", 2_000, "messages/s dispatched to the sandbox"),
]


@dataclass(frozen=True)
class Measurement:
    requests_per_s: float | None = None
    # Sends: accepted (requests/s x numbers a request). Drain: submitted to the connector.
    recipients_per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    # Drain: every receipt recorded (DELIVERED, FAILED or EXPIRED).
    final_per_s: float | None = None


class BenchError(Exception):
    """The run cannot give trustworthy numbers; the message says why."""


@dataclass
class Running:
    server: Server
    port: int
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def started(
    server: Server, workdir: Path, stores: BenchStores, extra_env: dict[str, str]
) -> Iterator[Running]:
    """Start `server` on a free port, wait until it answers, stop it afterwards."""
    port = free_port()
    server_dir = workdir / server.name
    server_dir.mkdir()
    argv, env = server.launch(port, server_dir, stores, extra_env)
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


@dataclass(frozen=True)
class WrkResult:
    requests: int  # answers wrk counted
    requests_per_s: float
    p50_ms: float
    p99_ms: float


def run_wrk(
    url: str, load: Load, duration_s: int, script: Path | None, script_args: list[str] | None = None
) -> WrkResult:
    argv = [
        "wrk", f"--threads={load.threads}", f"--connections={load.connections}",
        f"--duration={duration_s}s", "--timeout=5s", "--latency",
    ]  # fmt: skip
    if script is not None:
        argv.append(f"--script={script}")
    argv.append(url)
    if script_args:
        argv += ["--", *script_args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 30)
    except FileNotFoundError as exc:
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)") from exc
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish: {' '.join(argv)}") from exc
    if done.returncode != 0 or done.stderr.strip():
        # A Lua error is printed on stderr while wrk itself exits 0.
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout, url)


_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk(output: str, url: str) -> WrkResult:
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if errors and any(int(n) for n in errors.groups()):
        raise BenchError(f"{url}: {errors.group(0)}")
    first_failure = re.search(r"^bench-first-failure: (.*)$", output, re.MULTILINE)
    shown = f"; the first: {first_failure.group(1)[:500]}" if first_failure else ""
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise BenchError(f"{url}: {non_2xx.group(1)} answers were not 2xx or 3xx{shown}")
    failures = re.search(r"^bench-failures: (\d+)$", output, re.MULTILINE)
    if failures and int(failures.group(1)):
        raise BenchError(f'{url}: {failures.group(1)} answers did not say "result": "OK"{shown}')
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    count = re.search(r"^\s+(\d+) requests in ", output, re.MULTILINE)
    if rate is None or count is None:
        raise BenchError(f"cannot read wrk's output:\n{output}")
    return WrkResult(
        requests=int(count.group(1)),
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
    values: dict[str, float | None] = {}
    for f in fields(Measurement):
        seen = [getattr(m, f.name) for m in measurements if getattr(m, f.name) is not None]
        values[f.name] = statistics.median(seen) if seen else None
    return Measurement(**values)


@dataclass(frozen=True)
class Options:
    load: Load
    rounds: int
    warmup_s: int
    drain_recipients: int
    pg_admin_url: str
    redis_url: str
    gateway_env: dict[str, str] = field(default_factory=dict)


def scenario_load(scenario: Scenario, load: Load) -> Load:
    if scenario.connections is None:
        return load
    return replace(load, connections=max(scenario.connections, load.threads))


@dataclass
class Bench:
    """One run's servers, stores and accounts, and how each scenario is measured."""

    options: Options
    stores: BenchStores
    running: dict[str, Running]
    # Send scenarios: an account per run, used up in order.
    accounts: dict[str, list[BenchAccount]]
    drain_account: BenchAccount | None
    pipeline_token: str = ""
    check_account: BenchAccount | None = None
    next_drain_number: int = 0

    def measure(self, scenario: Scenario, duration_s: int, *, warmup: bool) -> Measurement:
        if scenario.drain:
            measured = self._drain(scenario, warmup=warmup)
        elif scenario.numbers_per_request:
            measured = self._send(scenario, duration_s)
        else:
            load = self._load(scenario)
            args = [self.pipeline_token] if scenario.pipeline_token else None
            if args and scenario.check_account:
                assert self.check_account is not None
                account = self.check_account
                args += [account.username, account.sender, ",".join(CHECK_RECIPIENTS)]
            result = run_wrk(self._url(scenario), load, duration_s, scenario.wrk_script, args)
            measured = Measurement(result.requests_per_s, None, result.p50_ms, result.p99_ms)
        check_alive(self.running[scenario.server])
        return measured

    def _load(self, scenario: Scenario) -> Load:
        return scenario_load(scenario, self.options.load)

    def _url(self, scenario: Scenario) -> str:
        return f"http://{HOST}:{self.running[scenario.server].port}{scenario.path}"

    def _send(self, scenario: Scenario, duration_s: int) -> Measurement:
        account = self.accounts[scenario.name].pop(0)
        port = self.running[scenario.server].port
        try:
            warm_credentials(HOST, port, account)
            # A number the Lua script never reaches in a run.
            check_sample_send(HOST, port, account, bench_number(NUMBER_SPACE - 1000))
        except (LoadError, OSError, ValueError) as exc:
            raise BenchError(f"{scenario.name}: {exc}") from exc
        load = self._load(scenario)
        per_request = scenario.numbers_per_request
        script_args = account.wrk_args(per_request, test=True, threads=load.threads)
        result = run_wrk(self._url(scenario), load, duration_s, scenario.wrk_script, script_args)
        stored = accepted_recipients(self.stores.database_url, account.username) - 1
        if stored < result.requests * per_request:
            raise BenchError(
                f"{scenario.name}: wrk counted {result.requests} answers of {per_request} "
                f"numbers, but the database holds {stored} recipients"
            )
        return Measurement(
            result.requests_per_s, result.requests_per_s * per_request, result.p50_ms, result.p99_ms
        )

    def _drain(self, scenario: Scenario, *, warmup: bool) -> Measurement:
        assert self.drain_account is not None
        recipients = self.options.drain_recipients
        if warmup:
            recipients = max(200, recipients // 5)
        settings = Settings.from_env(gateway_env(self.stores, self.options.gateway_env))
        try:
            drained = drain(
                settings,
                self.drain_account,
                first_number=self.next_drain_number,
                recipients=recipients,
            )
        except LoadError as exc:
            log = tail(self.running[scenario.server].log)
            raise BenchError(f"{scenario.name}: {exc}\n{log}") from exc
        self.next_drain_number += recipients
        print(
            f"    {scenario.name}: {recipients:,} recipients accepted in "
            f"{drained.prequeue_s:.1f} s (not measured); all submitted "
            f"{drained.submitted_s:.2f} s and all receipts recorded {drained.final_s:.2f} s "
            "after queueing",
            flush=True,
        )
        return Measurement(
            recipients_per_s=recipients / drained.submitted_s,
            final_per_s=recipients / drained.final_s,
        )


def benchmark(scenarios: list[Scenario], options: Options) -> dict[str, list[Measurement]]:
    results: dict[str, list[Measurement]] = {s.name: [] for s in scenarios}
    load = options.load
    runs = options.rounds + (1 if options.warmup_s > 0 else 0)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="secgate-bench-")))
        try:
            stores = stack.enter_context(bench_stores(options.pg_admin_url, options.redis_url))
            check_number_space()
            accounts = {
                s.name: create_accounts(
                    stores.database_url, [f"bench-{s.name}-{run}" for run in range(runs)]
                )
                for s in scenarios
                if s.numbers_per_request
            }
            drain_account = None
            if any(s.drain for s in scenarios):
                drain_account = create_accounts(stores.database_url, ["bench-dispatch"])[0]
            token = ""
            if any(s.pipeline_token for s in scenarios):
                token = create_pipeline_token(stores.database_url)
            check_account = None
            if any(s.check_account for s in scenarios):
                check_account = create_accounts(stores.database_url, ["bench-check"])[0]
        except (StoreError, LoadError) as exc:
            raise BenchError(str(exc)) from exc
        running = {
            name: stack.enter_context(started(SERVERS[name], tmp, stores, options.gateway_env))
            for name in dict.fromkeys(s.server for s in scenarios)
        }
        bench = Bench(options, stores, running, accounts, drain_account, token, check_account)

        if options.warmup_s > 0:
            for scenario in scenarios:
                bench.measure(scenario, options.warmup_s, warmup=True)
        for number in range(1, options.rounds + 1):
            for scenario in scenarios:
                measured = bench.measure(scenario, load.duration_s, warmup=False)
                results[scenario.name].append(measured)
                print(f"  round {number}/{options.rounds} {scenario.name:<9} {_line(measured)}",
                      flush=True)  # fmt: skip
    return results


def _line(m: Measurement) -> str:
    parts = []
    if m.requests_per_s is not None:
        parts.append(f"{m.requests_per_s:>9,.0f} req/s")
    if m.recipients_per_s is not None:
        parts.append(f"{m.recipients_per_s:>9,.0f} recipients/s")
    if m.p50_ms is not None and m.p99_ms is not None:
        parts.append(f"p50 {m.p50_ms:7.2f} ms  p99 {m.p99_ms:7.2f} ms")
    if m.final_per_s is not None:
        parts.append(f"to final {m.final_per_s:,.0f}/s")
    return "  ".join(parts)


def _cell(value: float | None, spec: str, width: int) -> str:
    return f"{value:>{width}{spec}}" if value is not None else f"{'-':>{width}}"


def report(
    scenarios: list[Scenario], results: dict[str, list[Measurement]], options: Options
) -> dict[str, object]:
    load = options.load
    medians = {name: median(ms) for name, ms in results.items()}
    print(
        f"\nmedian of {options.rounds} rounds; wrk -t{load.threads} -c{load.connections} "
        f"-d{load.duration_s}s on loopback; drain of {options.drain_recipients:,} recipients "
        f"({os.cpu_count()} CPUs, Python {platform.python_version()})"
    )
    print(
        f"{'scenario':<10}{'server':<9}{'path':<12}{'req/s':>10}{'recipients/s':>14}"
        f"{'p50 ms':>9}{'p99 ms':>9}"
    )
    for scenario in scenarios:
        m = medians[scenario.name]
        print(
            f"{scenario.name:<10}{scenario.server:<9}{scenario.path or '(drain)':<12}"
            f"{_cell(m.requests_per_s, ',.0f', 10)}{_cell(m.recipients_per_s, ',.0f', 14)}"
            f"{_cell(m.p50_ms, '.2f', 9)}{_cell(m.p99_ms, '.2f', 9)}"
        )
        if scenario.drain and m.final_per_s is not None:
            print(f"{'':<31}receipts recorded: {m.final_per_s:,.0f} recipients/s")
    ratios: dict[str, dict[str, float]] = {}
    print()
    for top, bottom in RATIOS:
        if top in medians and bottom in medians:
            a, b = medians[top], medians[bottom]
            r = ratios[f"{top}/{bottom}"] = {
                "requests_per_s": _ratio(a.requests_per_s, b.requests_per_s),
                "p50": _ratio(a.p50_ms, b.p50_ms),
                "p99": _ratio(a.p99_ms, b.p99_ms),
            }
            print(
                f"{top}/{bottom}: req/s x{r['requests_per_s']:.3f}, "
                f"p50 x{r['p50']:.2f}, p99 x{r['p99']:.2f}"
            )
    aims: dict[str, dict[str, object]] = {}
    for aim in AIMS:
        if aim.scenario in medians:
            got = medians[aim.scenario].recipients_per_s or 0.0
            met = got >= aim.recipients_per_s
            aims[aim.scenario] = {"aim": aim.recipients_per_s, "median": got, "met": met}
            print(
                f"aim {aim.scenario}: >= {aim.recipients_per_s:,.0f} {aim.what}: "
                f"{got:,.0f} ({'met' if met else 'MISSED'})"
            )
    print()
    for name in dict.fromkeys(s.server for s in scenarios):
        print(f"{name}: {SERVERS[name].note}")
    for note in scenario_notes(scenarios, options):
        print(note)
    return {
        "load": asdict(load),
        "drain_recipients": options.drain_recipients,
        "rounds": {name: [asdict(m) for m in ms] for name, ms in results.items()},
        "medians": {name: asdict(m) for name, m in medians.items()},
        "ratios": ratios,
        "aims": aims,
    }


def _ratio(top: float | None, bottom: float | None) -> float:
    return top / bottom if top is not None and bottom else float("nan")


def scenario_notes(scenarios: list[Scenario], options: Options) -> list[str]:
    notes = []
    gateway = Settings.from_env(gateway_env(_NO_STORES, options.gateway_env))
    if any(s.numbers_per_request for s in scenarios):
        sends = [s for s in scenarios if s.numbers_per_request]
        connections = ", ".join(
            f"{s.name} wrk -c{scenario_load(s, options.load).connections}" for s in sends
        )
        notes.append(
            f"{connections}: test=1 (stored, never queued, charged nothing), a new account "
            "per run, credential verified once before it (argon2id "
            f"t={gateway.argon2_time_cost} m={gateway.argon2_memory_kib} KiB, then "
            f"cached {gateway.api_credential_cache_s:g} s), distinct valid numbers"
        )
    if any(s.drain for s in scenarios):
        notes.append(
            f"dispatch: {gateway.dispatch_workers} workers, {gateway.dispatch_batch_size} "
            f"recipients a queue item; sandbox submit latency {gateway.sandbox_submit_latency_s:g} "
            f"s a batch, receipts after {gateway.sandbox_dlr_delay_s:g} s; 200-number sends "
            "accepted first, then queued at once"
        )
    if options.gateway_env:
        notes.append(f"gateway settings added: {options.gateway_env}")
    return notes


_NO_STORES = BenchStores("postgresql+asyncpg:///unused", "redis://unused/0", "", 0)

# --quick: one short round, for trying the harness.
QUICK = {"rounds": 1, "duration_s": 3, "warmup_s": 1, "drain_recipients": 4000}
DEFAULTS = {"rounds": 3, "duration_s": 10, "warmup_s": 2, "drain_recipients": 20_000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration-s", type=int, help="of each measured wrk run (10)")
    parser.add_argument("--rounds", type=int, help="(3)")
    parser.add_argument("--warmup-s", type=int, help="per wrk scenario, not measured (2)")
    parser.add_argument(
        "--drain-recipients", type=int, help="queued for each dispatch round (20000)"
    )
    parser.add_argument("--quick", action="store_true", help=f"defaults become {QUICK}")
    parser.add_argument("--only", action="append", metavar="SCENARIO", help="repeatable")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    # The servers the test suite uses (and `make test` starts) unless told otherwise.
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get("SECGATE_TEST_DATABASE_URL", DEFAULT_PG_ADMIN_URL),
        help="a PostgreSQL URL that may create databases (default: "
        "SECGATE_TEST_DATABASE_URL, else the local server)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("SECGATE_TEST_REDIS_URL", DEFAULT_REDIS_URL),
        help="a Redis server; its database number is chosen by the bench (default: "
        "SECGATE_TEST_REDIS_URL, else the local server)",
    )
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="SECGATE_NAME=VALUE",
        help="a setting for the gateway, e.g. SECGATE_DISPATCH_WORKERS=8 (repeatable)",
    )
    args = parser.parse_args()

    defaults = QUICK if args.quick else DEFAULTS
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    scenarios = [s for s in SCENARIOS if not args.only or s.name in args.only]
    unknown = set(args.only or ()) - {s.name for s in SCENARIOS}
    if unknown or not scenarios:
        parser.error(f"unknown scenario(s) {sorted(unknown)}; known: {[s.name for s in SCENARIOS]}")
    if min(args.threads, args.connections, args.duration_s, args.rounds) < 1:
        parser.error("--threads, --connections, --duration-s and --rounds must be at least 1")
    if args.drain_recipients < 1:
        parser.error("--drain-recipients must be at least 1")
    extra_env = {}
    for item in args.gateway_env:
        name, sep, value = item.partition("=")
        if not sep or not name.startswith("SECGATE_"):
            parser.error(f"--gateway-env {item!r}: expected SECGATE_NAME=VALUE")
        extra_env[name] = value
    options = Options(
        load=Load(args.threads, args.connections, args.duration_s),
        rounds=args.rounds,
        warmup_s=args.warmup_s,
        drain_recipients=args.drain_recipients,
        pg_admin_url=args.pg_admin_url,
        redis_url=args.redis_url,
        gateway_env=extra_env,
    )

    try:
        results = benchmark(scenarios, options)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    summary = report(scenarios, results, options)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
