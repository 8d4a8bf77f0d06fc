"""HTTP load benchmark (issue: "HTTP API"): a real `chronicle serve` on loopback.

For each store (SQLite, then PostgreSQL) a fresh CHRONICLE_HOME is made in a temporary
folder, filled with `chronicle demo`, and served by `chronicle serve` (uvicorn, one process)
in a subprocess. 32 client threads, each with its own keep-alive httpx connection, then run
a mixed workload for a fixed time: 70 % chronology reads, 20 % register pages, 10 % concern
writes with If-Match. A write answered 409 is re-read (`GET /pupils/{id}`) and sent again;
the 409s are counted separately and are not errors. Anything else that is not a 2xx is an
error (the target is none). Latency is per request, measured in the client, for the
request's own kind; a write's latency includes neither its re-read nor its retries.

The client threads share the machine with the server: on 2 cores the figures are the
server's throughput under a client that takes part of one core, not a server-only ceiling.

`LiveServer` (start a home, add people, run and stop the server) is also used by
tests/http/test_live_server.py.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get(
    "CHRONICLE_BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
CLIENTS = 32
DEMO_PUPILS = 200
MIX = (("chronology", 0.70), ("register", 0.20), ("write", 0.10))


class ServerFailed(RuntimeError):
    """The server did not start, or a CLI step failed; the message has its output."""


@dataclass
class LiveServer:
    """A CHRONICLE_HOME (and optionally a PostgreSQL database) and `chronicle serve` on it."""

    home: Path
    database_url: str | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.home.parent / f"{self.home.name}-server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICLE_")}
        environ |= {"CHRONICLE_HOME": str(self.home), "COLUMNS": "200"}
        if self.database_url is not None:
            environ["CHRONICLE_DATABASE_URL"] = self.database_url
        return environ

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `chronicle ARGS` against this installation."""
        done = subprocess.run(
            [sys.executable, "-m", "api.cli", *args],
            env=self.env(),
            cwd=self.home.parent,  # never pick up a .env of the working tree
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check and done.returncode != 0:
            raise ServerFailed(
                f"chronicle {' '.join(args)} exited {done.returncode}: "
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        return done

    def add_user(self, name: str, role: str, *academies: str) -> str:
        """`chronicle users add ... --json`; the token it prints."""
        args = ["users", "add", name, "--role", role]
        for academy in academies:
            args += ["--academy", academy]
        if not academies:
            args.append("--trust-wide")
        token: str = json.loads(self.cli(*args, "--json").stdout)["token"]
        return token

    def start(self, timeout: float = 60.0) -> None:
        """Start `chronicle serve` on a free loopback port and wait until it answers."""
        self.port = _free_port()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)],
                env=self.env(),
                cwd=self.home.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"the server exited {self.process.returncode}: {self.log()}")
            with suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/openapi.json", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise ServerFailed(f"the server did not answer within {timeout} s: {self.log()}")

    def stop(self) -> None:
        """SIGTERM (uvicorn drains and stops the ledger follower), then SIGKILL if stuck."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)

    def log(self) -> str:
        """The server's output (uvicorn's log; no access log, so no paths or content)."""
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no server log)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def postgres_database(admin_url: str = PG_ADMIN) -> Iterator[str]:
    """A fresh, empty PostgreSQL database (its URL), dropped on exit whatever happens."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"chronicle_live_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin_url.rsplit("/", 1)[0] + "/" + name
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def live_server(home: Path, database_url: str | None, demo_pupils: int) -> Iterator[LiveServer]:
    """`chronicle init` and `chronicle demo` (none if `demo_pupils` is 0); the caller adds
    people and calls `start()`; the server is stopped on exit, whatever happens."""
    server = LiveServer(home, database_url)
    server.cli("init")
    if demo_pupils:
        server.cli("demo", "--pupils", str(demo_pupils))
    try:
        yield server
    finally:
        server.stop()


# --- the load ---------------------------------------------------------------------------


@dataclass
class Tally:
    """What one client thread saw."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k, _ in MIX})
    conflicts: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def _client_loop(
    url: str,
    token: str,
    pupils: list[str],
    stop: threading.Event,
    seed: int,
    tally: Tally,
    start: threading.Barrier,
) -> None:
    rng = random.Random(seed)
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    versions: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        start.wait()
        n = 0
        while not stop.is_set():
            kind = rng.choices(kinds, weights)[0]
            pupil = rng.choice(pupils)
            n += 1
            try:
                if kind == "chronology":
                    _timed(tally, kind, client.get(f"/pupils/{pupil}/chronology"))
                elif kind == "register":
                    offset = rng.randrange(0, max(1, len(pupils) - 50))
                    _timed(tally, kind, client.get("/pupils", params={"offset": offset}))
                else:
                    _write(client, tally, pupil, versions, f"load {seed}-{n}")
            except httpx.HTTPError as e:
                tally.error(type(e).__name__)


def _timed(tally: Tally, kind: str, response: httpx.Response) -> httpx.Response:
    if response.is_success:
        tally.latencies[kind].append(response.elapsed.total_seconds())
    else:
        tally.error(f"{kind} {response.status_code} {_problem(response)}")
    return response


def _problem(response: httpx.Response) -> str:
    """The `error` of a Problem body (a code such as `access_log_busy`), never its detail."""
    try:
        return str(response.json().get("error", ""))
    except ValueError:
        return ""


def _write(
    client: httpx.Client, tally: Tally, pupil: str, versions: dict[str, int], marker: str
) -> None:
    body = {"source": "teacher", "description": f"Benchmark concern {marker}"}
    for _ in range(50):
        if pupil not in versions:
            read = client.get(f"/pupils/{pupil}")
            if not read.is_success:
                tally.error(f"re-read {read.status_code} {_problem(read)}")
                return
            versions[pupil] = read.json()["version"]
        sent = client.post(
            f"/pupils/{pupil}/concerns", json=body, headers={"If-Match": str(versions[pupil])}
        )
        if sent.status_code == 409:
            tally.conflicts += 1
            versions.pop(pupil)
            continue
        if sent.is_success:
            tally.latencies["write"].append(sent.elapsed.total_seconds())
            versions[pupil] = sent.json()["version"]
        else:
            versions.pop(pupil, None)
            tally.error(f"write {sent.status_code} {_problem(sent)}")
        return
    tally.error("write gave up after 50 conflicts")


def load(server: LiveServer, token: str, seconds: float, clients: int) -> dict[str, Any]:
    """Run the mixed workload against a started server; requests/s, latencies, errors."""
    probe = httpx.get(
        f"{server.url}/pupils",
        params={"limit": 200},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    probe.raise_for_status()
    pupils = [p["pupil_id"] for p in probe.json()["pupils"]]
    tallies = [Tally() for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    stop = threading.Event()
    threads = []
    for i, tally in enumerate(tallies):
        args = (server.url, token, pupils, stop, i, tally, start)
        threads.append(threading.Thread(target=_client_loop, args=args, daemon=True))
    for t in threads:
        t.start()
    start.wait()
    began = time.monotonic()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    # Requests in flight at the stop are counted: the span runs until the last one ends.
    elapsed = time.monotonic() - began
    return _summary(tallies, elapsed, len(pupils))


def _summary(tallies: list[Tally], elapsed: float, pupils: int) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    total = 0
    for kind, _ in MIX:
        found = sorted(x for t in tallies for x in t.latencies[kind])
        total += len(found)
        kinds[kind] = {
            "requests": len(found),
            "per_s": len(found) / elapsed,
            "p50_ms": _pct(found, 50),
            "p99_ms": _pct(found, 99),
        }
    errors: dict[str, int] = {}
    for t in tallies:
        for what, count in t.errors.items():
            errors[what] = errors.get(what, 0) + count
    conflicts = sum(t.conflicts for t in tallies)
    return {
        "seconds": elapsed,
        "pupils_targeted": pupils,
        "requests": total,
        "requests_per_s": total / elapsed,
        "kinds": kinds,
        "conflicts_409": conflicts,
        "errors": errors,
    }


def _pct(sorted_seconds: list[float], p: int) -> float | None:
    if not sorted_seconds:
        return None
    if len(sorted_seconds) == 1:
        return sorted_seconds[0] * 1000
    return statistics.quantiles(sorted_seconds, n=100, method="inclusive")[p - 1] * 1000


def run(quick: bool) -> dict[str, Any]:
    seconds = 5.0 if quick else 20.0
    pupils = 50 if quick else DEMO_PUPILS
    results: dict[str, Any] = {
        "seconds": seconds,
        "clients": CLIENTS,
        "demo_pupils": pupils,
        "stores": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("sqlite", "postgresql"):
            with _store(kind) as database_url:
                home = Path(tmp) / kind
                with live_server(home, database_url, pupils) as server:
                    token = server.add_user("bench-sendco", "sendco")  # the whole trust
                    server.start()
                    results["stores"][kind] = load(server, token, seconds, CLIENTS)
                    server.stop()
                    verify = server.cli("ledger", "verify", check=False)
                    results["stores"][kind]["ledger_verifies"] = verify.returncode == 0
    return results


@contextmanager
def _store(kind: str) -> Iterator[str | None]:
    if kind == "sqlite":
        yield None
        return
    with postgres_database() as url:
        yield url


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"HTTP load: {result['clients']} clients for {result['seconds']:.0f} s, "
        f"{result['demo_pupils']} demo pupils; mix "
        + ", ".join(f"{int(w * 100)} % {k}" for k, w in MIX),
        f"{m['date']}  Python {m['python']}  {m['cpus']} CPUs  {m['platform']}",
        "",
        "| store | kind | requests/s | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|",
    ]
    for store, r in result["stores"].items():
        for kind, k in r["kinds"].items():
            lines.append(
                f"| {store} | {kind} | {k['per_s']:,.1f} | {_ms(k['p50_ms'])} | "
                f"{_ms(k['p99_ms'])} |"
            )
        lines.append(f"| {store} | **all** | {r['requests_per_s']:,.1f} | | |")
    lines.append("")
    for store, r in result["stores"].items():
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items())) or "none"
        lines.append(
            f"{store}: {r['requests']} requests in {r['seconds']:.1f} s; "
            f"409 conflicts (retried) {r['conflicts_409']}; errors {errors}; "
            f"ledger verifies afterwards: {'yes' if r['ledger_verifies'] else 'NO'}"
        )
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"
