"""HTTP throughput with wrk (issue 15, part 6): a real `chronicle serve` under a C load generator.

`python bench/run.py http [--quick] [--json]`. For SQLite, PostgreSQL with one worker and
PostgreSQL with two (`chronicle serve --workers 2`; reported "not available" while the option
does not exist), a fresh CHRONICLE_HOME (and database) holds `chronicle demo --pupils 200`
and one trust-wide SENDCo token. Against the running server, one after the other, `wrk -t1
-c16 --latency` (one thread, 16 keep-alive connections) drives:

- `GET /docs`: static, the framework's ceiling on this server (the ratio's denominator);
- `GET /pupils/{id}/chronology`, 150 pupils in turn, with `Authorization` and `X-Purpose`;
- `GET /register?limit=50`, every full page in turn;
- a mixed workload: of every 10 requests 7 chronology reads, 2 register pages and 1 concern
  write (`POST /pupils/{id}/concerns` with `If-Match`) to one of 48 pupils registered for
  the run, each with at most one write in flight and the version its last 201 gave, so a
  409 or 412 is a real error (none expected);
- a soak: the mixed workload for 60 s, with the RSS of the server process and its children
  at the start and the end.

The Lua script is bench/wrk/chronicle.lua. Per-route latency is wrk's (`--latency`); in
the mixed workload each kind is timed by the script, which pairs a response with its request
by what the body names. After the mixed run and the soak, the `RecordsViewed` events in the
database are counted against the reads answered 2xx (a chronology shows one pupil, a page
50): every one must be there. Reads still in flight when wrk stops are answered to a closed
connection; they are recorded but not counted by wrk, so a few more records than reads is
expected.

Durations: 15 s a route and a 60 s soak (`--quick`: 3 s and 10 s); CHRONICLE_BENCH_SECONDS
and CHRONICLE_BENCH_SOAK_SECONDS override. wrk is Debian's package: run as root the
benchmark installs it (`apt-get install -y wrk`); otherwise it prints that command and falls
back to a Python client (16 threads, one httpx connection each), and the result says which
load generator ran. The 1-minute load average is recorded before and after each store.

`python bench/http_wrk.py --write-docs RESULT.json [FILE]` (RESULT.json from `--json`) puts
the rendered section in docs/performance.md (or FILE), replacing an earlier "HTTP throughput
(wrk)" section, with CHRONICLE_BENCH_NOTE, if set, as a paragraph after the run's line.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_load import (
    LiveServer,
    ServerFailed,
    _free_port,
    live_server,
    postgres_database,
)
from domain.values import upn_check_letter

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "wrk" / "chronicle.lua"
THREADS = 1
CONNECTIONS = 16
DEMO_PUPILS = 200
CHRONOLOGY_PUPILS = 150
PAGE = 50
WRITERS = 48
PURPOSE = "benchmark"
SECTION = "## HTTP throughput (wrk)"
X = "\N{MULTIPLICATION SIGN}"
ROUTES = ("docs", "chronology", "register", "mixed")
LABELS = {
    "docs": "`GET /docs` (ceiling)",
    "chronology": "`GET /pupils/{id}/chronology`",
    "register": "`GET /register?limit=50`",
    "mixed": "mixed 70/20/10",
}
NO_WORKERS = "not available: `chronicle serve` has no --workers option yet"


class Server(LiveServer):
    """`chronicle serve`, with `--workers N` when N > 1."""

    workers: int = 1

    def start(self, timeout: float = 60.0) -> None:
        self.port = _free_port()
        args = [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args, env=self.env(), cwd=self.home.parent, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"the server exited {self.process.returncode}: {self.log()}")
            with suppress(httpx.TransportError):
                answered = httpx.get(f"{self.url}/openapi.json", timeout=2).status_code
                # With workers, every one of them running (the parent, then one each).
                needed = 1 if self.workers == 1 else 1 + self.workers
                if answered == 200 and len(rss_mib(self.process.pid)) >= needed:
                    return
            time.sleep(0.1)
        raise ServerFailed(f"the server did not answer within {timeout} s: {self.log()}")


# --- the load generator -----------------------------------------------------------------------


def find_wrk() -> tuple[str | None, str]:
    """wrk's path (installed from Debian when run as root), or None and what to do."""
    found = shutil.which("wrk")
    if found:
        return found, ""
    command = "apt-get install -y wrk"
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"bench: wrk is missing; running `{command}`", file=sys.stderr)
        done = subprocess.run(command.split(), capture_output=True, text=True, timeout=600)
        if done.returncode != 0:  # the package lists may be stale
            subprocess.run(["apt-get", "update"], capture_output=True, timeout=600)
            subprocess.run(command.split(), capture_output=True, timeout=600)
        found = shutil.which("wrk")
        if found:
            return found, ""
        return None, f"`{command}` failed; the Python client ran instead"
    print(
        f"bench: wrk is missing; install it with `sudo {command}` (Debian). "
        "Falling back to the Python client.",
        file=sys.stderr,
    )
    return None, f"wrk not installed (`sudo {command}`); the Python client ran instead"


def wrk_run(wrk: str, url: str, cfg: dict[str, Any], seconds: float, work: Path) -> dict[str, Any]:
    """One wrk run of `cfg['mode']`; what the script's done() printed."""
    config = work / f"wrk-{cfg['mode']}-{time.monotonic_ns()}.lua"
    config.write_text("return " + _lua(cfg) + "\n")
    args = [wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s"]
    args += ["--timeout", "10s", "--latency", "-s", str(LUA), url]
    done = subprocess.run(
        args,
        env=os.environ | {"CHRONICLE_WRK_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    for line in done.stdout.splitlines():
        if line.startswith("CHRONICLE_RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("CHRONICLE_RESULT "))
            return result
    raise RuntimeError(f"wrk exited {done.returncode}: {done.stdout[-2000:]}{done.stderr[-2000:]}")


def _lua(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{_lua(str(k))}] = {_lua(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "{" + ", ".join(_lua(v) for v in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid Lua string for these values


def python_run(url: str, cfg: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The fallback: the same modes and result shape as the Lua script, from 16 threads."""
    headers = {"Authorization": f"Bearer {cfg['token']}", "X-Purpose": cfg["purpose"]}
    lock = threading.Lock()
    counter = iter(range(1, 1 << 62))
    free = [w["id"] for w in cfg.get("writers", [])]
    version = {w["id"]: w["version"] for w in cfg.get("writers", [])}
    rows = {p["path"]: p["rows"] for p in cfg.get("pages", [])}
    pupils, pages = cfg.get("pupils", []), [p["path"] for p in cfg.get("pages", [])]
    lat: dict[str, list[float]] = {"chronology": [], "register": [], "write": [], "all": []}
    statuses: dict[str, int] = {}
    ok = {"chronology": 0, "register": 0, "write": 0, "other": 0}
    state = {"shown": 0, "skipped": 0, "socket": 0}
    stop = threading.Event()

    def pick() -> tuple[str, str, str | None]:
        with lock:
            n = next(counter)
            if cfg["mode"] == "docs":
                return "docs", "/docs", None
            if cfg["mode"] == "chronology":
                return "chronology", f"/pupils/{pupils[n % len(pupils)]}/chronology", None
            if cfg["mode"] == "register":
                return "register", pages[n % len(pages)], None
            slot = n % 10
            if slot == 9 and free:
                pupil = free.pop()
                return "write", f"/pupils/{pupil}/concerns", pupil
            if slot == 9:
                state["skipped"] += 1
            if slot in (7, 8):
                return "register", pages[n % len(pages)], None
            return "chronology", f"/pupils/{pupils[n % len(pupils)]}/chronology", None

    def loop() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            while not stop.is_set():
                kind, path, pupil = pick()
                began = time.perf_counter()
                try:
                    if pupil is not None:
                        body = {"source": "teacher", "description": "Benchmark concern"}
                        answer = client.post(
                            path, json=body, headers={"If-Match": str(version[pupil])}
                        )
                    else:
                        answer = client.get(path)
                except httpx.HTTPError:
                    with lock:
                        state["socket"] += 1
                    continue
                ms = (time.perf_counter() - began) * 1000
                with lock:
                    code = str(answer.status_code)
                    statuses[code] = statuses.get(code, 0) + 1
                    lat["all"].append(ms)
                    if not answer.is_success:
                        continue
                    if pupil is not None:
                        version[pupil] = answer.json()["version"]
                        free.append(pupil)
                    if kind in ok:
                        ok[kind] += 1
                        lat[kind].append(ms)
                    if kind in ("chronology", "register"):
                        state["shown"] += rows.get(path, 1) if kind == "register" else 1

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(CONNECTIONS)]
    began = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    elapsed = time.monotonic() - began
    every = sorted(lat["all"])
    bad = sum(v for k, v in statuses.items() if int(k) > 399)
    result: dict[str, Any] = {
        "mode": cfg["mode"],
        "duration_s": elapsed,
        "requests": len(every),
        "socket_errors": {"connect": 0, "read": state["socket"], "write": 0, "timeout": 0},
        "status_errors": bad,
        "p50_ms": _pct(every, 50),
        "p99_ms": _pct(every, 99),
    }
    if cfg["mode"] == "mixed":
        result |= {
            "kinds": {
                k: {"timed": len(v), "p50_ms": _pct(sorted(v), 50), "p99_ms": _pct(sorted(v), 99)}
                for k, v in lat.items()
                if k != "all"
            },
            "ok": ok,
            "statuses": statuses,
            "unpaired": 0,
            "writes_skipped": state["skipped"],
            "rows_shown": state["shown"],
            "rows_pending": 0,  # every thread waits for its last answer
        }
    return result


def _pct(values: list[float], p: int) -> float | None:
    """The nearest-rank percentile of sorted values (as the Lua script takes it)."""
    if not values:
        return None
    return values[max(0, -(-len(values) * p // 100) - 1)]


# --- the data ----------------------------------------------------------------------------------


def _client(server: LiveServer, token: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": PURPOSE}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def targets(server: LiveServer, token: str) -> dict[str, Any]:
    """The pupils read in turn and the full register pages (each page's first pupil)."""
    with _client(server, token) as client:
        first = client.get("/register", params={"limit": 200})
        first.raise_for_status()
        total = first.json()["total"]
        pupils = [p["pupil_id"] for p in first.json()["pupils"]]
        academy = first.json()["pupils"][0]["academy"]
        pages = []
        for offset in range(0, total - PAGE + 1, PAGE):
            page = client.get("/register", params={"limit": PAGE, "offset": offset})
            page.raise_for_status()
            found = page.json()["pupils"]
            pages.append(
                {
                    "path": f"/register?limit={PAGE}&offset={offset}",
                    "first": found[0]["pupil_id"],
                    "rows": len(found),
                }
            )
    return {
        "pupils": pupils[:CHRONOLOGY_PUPILS],
        "pages": pages,
        "academy": academy,
        "total": total,
    }


def add_writers(server: LiveServer, token: str, academy: str, n: int) -> list[dict[str, Any]]:
    """`n` new pupils, written to only by this run's mixed workload; id and version."""
    stamp = random.randrange(10**7)
    writers = []
    with _client(server, token) as client:
        for i in range(n):
            body12 = f"{stamp:07d}{i:05d}"
            answer = client.post(
                "/pupils",
                json={
                    "upn": upn_check_letter(body12) + body12,
                    "legal_given_names": "Bench",
                    "legal_family_name": f"Writer {stamp}-{i}",
                    "date_of_birth": "2015-05-17",
                    "academy": academy,
                    "year_group": 4,
                },
            )
            answer.raise_for_status()
            writers.append({"id": answer.json()["pupil_id"], "version": answer.json()["version"]})
    return writers


def refresh(server: LiveServer, token: str, writers: list[dict[str, Any]]) -> None:
    """Each writer pupil's current version (a run may end with a write unanswered)."""
    with _client(server, token) as client:
        for w in writers:
            answer = client.get(f"/pupils/{w['id']}")
            answer.raise_for_status()
            w["version"] = answer.json()["version"]


def access_records(database_url: str) -> int:
    """RecordsViewed events in the store, once the count has stopped moving."""
    engine = create_engine(database_url)
    try:
        last, deadline = -1, time.monotonic() + 15
        while True:
            with engine.connect() as conn:
                count = int(
                    conn.execute(
                        text("SELECT count(*) FROM chronicle_events WHERE topic LIKE :topic"),
                        {"topic": "%:RecordsViewed"},
                    ).scalar_one()
                )
            if count == last or time.monotonic() > deadline:
                return count
            last = count
            time.sleep(0.5)
    finally:
        engine.dispose()


def rss_mib(pid: int) -> list[float]:
    """RSS (MiB) of the process and each of its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    sizes = []
    for p in tree:
        with suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
    return sizes


# --- one configuration ---------------------------------------------------------------------------


def measure(
    server: Server,
    token: str,
    database_url: str,
    wrk: str | None,
    seconds: float,
    soak_seconds: float,
    work: Path,
) -> dict[str, Any]:
    """Every route, the mixed workload and the soak against one started server."""
    base = targets(server, token)
    cfg = {"token": token, "purpose": PURPOSE, "pupils": base["pupils"], "pages": base["pages"]}

    def drive(mode: str, length: float, **extra: Any) -> dict[str, Any]:
        c = cfg | {"mode": mode} | extra
        if wrk is None:
            return python_run(server.url, c, length)
        return wrk_run(wrk, server.url, c, length, work)

    drive("chronology", 2 if seconds < 10 else 5)  # warm-up, not reported
    out: dict[str, Any] = {
        "pupils_read": len(base["pupils"]),
        "register_pages": len(base["pages"]),
        "register_total": base["total"],
        "load_before": os.getloadavg()[0],
        "routes": {},
    }
    for mode in ("docs", "chronology", "register"):
        out["routes"][mode] = drive(mode, seconds)
    writers = add_writers(server, token, base["academy"], WRITERS)
    out["routes"]["mixed"] = mixed(server, token, database_url, writers, drive, seconds)
    out["soak"] = mixed(server, token, database_url, writers, drive, soak_seconds)
    out["load_after"] = os.getloadavg()[0]
    return out


def mixed(
    server: Server,
    token: str,
    database_url: str,
    writers: list[dict[str, Any]],
    drive: Any,
    seconds: float,
) -> dict[str, Any]:
    """The mixed workload, the server's RSS before and after, and the access records
    it left (RecordsViewed events) against the reads it saw answered."""
    refresh(server, token, writers)
    before = access_records(database_url)
    pid = server.process.pid if server.process else 0
    rss_start = rss_mib(pid)
    r: dict[str, Any] = drive("mixed", seconds, writers=writers)
    r["rss_start_mib"], r["rss_end_mib"] = rss_start, rss_mib(pid)
    r["access_records"] = access_records(database_url) - before
    return r


def run(quick: bool) -> dict[str, Any]:
    seconds = float(os.environ.get("CHRONICLE_BENCH_SECONDS", 3 if quick else 15))
    soak = float(os.environ.get("CHRONICLE_BENCH_SOAK_SECONDS", 10 if quick else 60))
    wrk, why = find_wrk()
    result: dict[str, Any] = {
        "load_generator": (
            f"wrk ({wrk}), {THREADS} thread, {CONNECTIONS} connections"
            if wrk
            else f"Python client, {CONNECTIONS} threads: {why}"
        ),
        "seconds": seconds,
        "soak_seconds": soak,
        "demo_pupils": DEMO_PUPILS,
        "load_at_start": list(os.getloadavg()),
        "configs": {},
    }
    configs = result["configs"]

    def one(home: Path, url: str | None, token: str, label: str, workers: int) -> None:
        print(f"bench: {label}", file=sys.stderr)
        server = Server(home, url)
        server.workers = workers
        store = "sqlite" if url is None else "postgresql"
        if workers > 1 and "--workers" not in server.cli("serve", "--help").stdout:
            configs[label] = {"store": store, "workers": workers, "missing": NO_WORKERS}
            return
        try:
            try:
                server.start()
            except ServerFailed as e:
                if workers == 1:
                    raise
                configs[label] = {
                    "store": store,
                    "workers": workers,
                    "missing": f"`chronicle serve --workers {workers}` did not start: {e}",
                }
                return
            database = url or f"sqlite:///{home / 'chronicle.db'}"
            r = measure(server, token, database, wrk, seconds, soak, work)
        finally:
            server.stop()
        verify = server.cli("ledger", "verify", check=False)
        r |= {"store": store, "workers": workers, "ledger_verifies": verify.returncode == 0}
        configs[label] = r

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        home = work / "sqlite"
        with live_server(home, None, DEMO_PUPILS) as made:
            token = made.add_user("bench-sendco", "sendco")  # the whole trust
        one(home, None, token, "SQLite", 1)
        with postgres_database() as url:
            home = work / "postgresql"
            with live_server(home, url, DEMO_PUPILS) as made:
                token = made.add_user("bench-sendco", "sendco")
            # The same database for both: the two-worker run finds the first's records.
            one(home, url, token, "PostgreSQL, 1 worker", 1)
            one(home, url, token, "PostgreSQL, 2 workers", 2)
    result["load_at_end"] = list(os.getloadavg())
    return result


# --- the report ----------------------------------------------------------------------------------


def _errors(r: dict[str, Any]) -> int:
    """Answers that are not 2xx, and connections that failed."""
    socket = int(sum(r.get("socket_errors", {}).values()))
    if "statuses" in r:
        return socket + int(sum(v for k, v in r["statuses"].items() if not 200 <= int(k) < 300))
    return socket + int(r.get("status_errors", 0))


def _rate(r: dict[str, Any]) -> float:
    return float(r["requests"]) / float(r["duration_s"])


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _mib(sizes: list[float]) -> str:
    if not sizes:
        return "—"
    total = f"{sum(sizes):,.0f} MiB"
    return total if len(sizes) == 1 else f"{total} ({' + '.join(f'{s:.0f}' for s in sizes)})"


def _records(r: dict[str, Any]) -> str:
    shown, found = int(r["rows_shown"]), int(r["access_records"])
    pending = int(r.get("rows_pending", 0))
    text = f"access records present: {min(shown, found):,} of {shown:,}"
    if found > shown:
        text += f" (+{found - shown} from reads unanswered when wrk stopped, "
        text += f"which would have shown {pending})"
        if found - shown > pending:
            text += " — MORE than those reads explain"
    return text


def table(result: dict[str, Any]) -> list[str]:
    """The results table (markdown)."""
    lines = [
        f"| store | route | req/s | p50 ms | p99 ms | errors | {X} ceiling |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, c in result["configs"].items():
        if "missing" in c:
            lines.append(f"| {label} | {c['missing']} | | | | | |")
            continue
        ceiling = _rate(c["routes"]["docs"])
        for mode in ROUTES:
            r = c["routes"][mode]
            ratio = "1" if mode == "docs" else f"{_rate(r) / ceiling:.3f}"
            lines.append(
                f"| {label} | {LABELS[mode]} | {_rate(r):,.1f} | {_ms(r['p50_ms'])} | "
                f"{_ms(r['p99_ms'])} | {_errors(r)} | {ratio} |"
            )
            if mode == "mixed":
                for kind in ("chronology", "register", "write"):
                    k = r["kinds"].get(kind, {"p50_ms": None, "p99_ms": None})
                    per_s = r["ok"].get(kind, 0) / r["duration_s"]
                    lines.append(
                        f"| {label} | ↳ mixed: {kind} | {per_s:,.1f} | {_ms(k['p50_ms'])} | "
                        f"{_ms(k['p99_ms'])} | | |"
                    )
    return lines


def soak_table(result: dict[str, Any]) -> list[str]:
    lines = [
        f"| store | soak {result['soak_seconds']:.0f} s: req/s | chronology p50 / p99 ms | "
        "errors | RSS at start | RSS at end | access records |",
        "|---|---:|---|---:|---|---|---|",
    ]
    for label, c in result["configs"].items():
        if "missing" in c:
            continue
        s = c["soak"]
        k = s["kinds"].get("chronology", {"p50_ms": None, "p99_ms": None})
        lines.append(
            f"| {label} | {_rate(s):,.1f} | {_ms(k['p50_ms'])} / {_ms(k['p99_ms'])} | "
            f"{_errors(s)} | {_mib(s['rss_start_mib'])} | {_mib(s['rss_end_mib'])} | "
            f"{_records(s).removeprefix('access records present: ')} |"
        )
    return lines


def verdicts(result: dict[str, Any]) -> list[str]:
    """Each of issue 15's targets, met or not, with the measured figure."""
    configs = {k: v for k, v in result["configs"].items() if "missing" not in v}
    lines = []

    def mark(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    for label, c in configs.items():
        if c["workers"] > 1:
            continue
        ceiling = _rate(c["routes"]["docs"])
        for mode, share, p99 in (("chronology", 0.5, 50.0), ("register", 0.25, 100.0)):
            r = c["routes"][mode]
            ratio, late = _rate(r) / ceiling, r["p99_ms"]
            ok = ratio >= share and late is not None and late < p99
            lines.append(
                f"- {label}, {LABELS[mode]} ≥ {share}{X} ceiling with p99 < {p99:.0f} ms: "
                f"{mark(ok)} — {ratio:.3f}{X} ({_rate(r):,.0f} of {ceiling:,.0f} req/s), "
                f"p99 {_ms(late)} ms"
            )
    one = configs.get("PostgreSQL, 1 worker")
    two = configs.get("PostgreSQL, 2 workers")
    if one and two:
        a, b = _rate(one["routes"]["mixed"]), _rate(two["routes"]["mixed"])
        lines.append(
            f"- PostgreSQL, 2 workers ≥ 1.6{X} one worker on the mixed workload: "
            f"{mark(b >= 1.6 * a)} — {b / a:.2f}{X} ({b:,.0f} against {a:,.0f} req/s)"
        )
    else:
        missing = result["configs"].get("PostgreSQL, 2 workers", {}).get("missing", "not run")
        lines.append(f"- PostgreSQL, 2 workers ≥ 1.6{X} one worker: not measured ({missing})")
    for label, c in configs.items():
        for name, r in (("mixed", c["routes"]["mixed"]), ("soak", c["soak"])):
            errors = _errors(r)
            found, shown = int(r["access_records"]), int(r["rows_shown"])
            pending = int(r.get("rows_pending", 0))
            bad = {k: v for k, v in r["statuses"].items() if not 200 <= int(k) < 300}
            detail = ", ".join(f"{v} {X} {k}" for k, v in sorted(bad.items())) or "none"
            lines.append(
                f"- {label}, {name}: 0 errors and every access record present: "
                f"{mark(errors == 0 and shown <= found <= shown + pending)} — "
                f"{errors} errors ({detail}); "
                f"{_records(r)}"
            )
    return lines


METHOD = """\
`python bench/run.py http [--quick]` (bench/http_wrk.py, the Lua in bench/wrk/chronicle.lua)
measures a real `chronicle serve` the way issue 15 did: `wrk -t1 -c16 --latency` (one thread,
16 keep-alive connections, a C load generator that leaves the server most of the CPU) on
127.0.0.1 against a fresh home holding `chronicle demo --pupils 200` and a trust-wide SENDCo
token, each route for 15 s (`--quick`: 3 s) after a warm-up, in the same run: `GET /docs`
(static: the framework's ceiling on this server, the denominator of every ratio), `GET
/pupils/{id}/chronology` over 150 pupils in turn, every full page of `GET
/register?limit=50` in turn, and a mixed workload (of every 10 requests 7 chronology reads, 2
register pages, 1 concern write with `If-Match` to one of 48 pupils registered for the run,
each with one write in flight at most and the version its last 201 gave: a 409 or 412 is an
error). Every read sends `Authorization` and `X-Purpose`. Then a soak, the mixed workload for
60 s (`--quick`: 10 s), with the RSS of the server process and its children. For SQLite,
PostgreSQL (15, same host) with one worker, and the same PostgreSQL database with `chronicle
serve --workers 2`. Route latencies are wrk's; the mixed workload's per-kind latencies are
timed by the script (it pairs a response with its request by the pupil the body names).
"Errors" are answers other than 2xx and failed connections. After the mixed run and the soak
the `RecordsViewed` events in the database are counted against the reads answered 2xx (a
chronology shows one pupil, a page 50); reads still unanswered when wrk stops are answered to
a closed connection and recorded, so a few more records than answered reads are expected, at
most what those reads would have shown. `ledger verify` runs after each server stops. (The
"HTTP API" section below is the earlier Python-client benchmark, bench/http_load.py, which
`bench/run.py http` no longer runs; its 32 client threads shared the two cores with the
server.)"""


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    load = result["load_at_start"]
    quick = " --quick" if result.get("quick") else ""
    lines = [
        SECTION,
        "",
        METHOD,
        "",
        f"Run {m['date']}, `python bench/run.py http{quick}` (bench/http_wrk.py, "
        "bench/wrk/chronicle.lua); "
        f"{m['cpus']} CPUs, {m['processor']}, {m['platform']}, Python {m['python']}. "
        f"Load generator: {result['load_generator']}; {result['seconds']:.0f} s a route, "
        f"a {result['soak_seconds']:.0f} s soak; {result['demo_pupils']} demo pupils. "
        f"1-minute load average {load[0]:.2f} at the start, "
        f"{result['load_at_end'][0]:.2f} at the end"
        + (" (**a quick run: short, smoke-test figures**)." if quick else "."),
        "",
        *([note, ""] if (note := os.environ.get("CHRONICLE_BENCH_NOTE")) else []),
        *table(result),
        "",
        *soak_table(result),
        "",
    ]
    for label, c in result["configs"].items():
        if "missing" in c:
            lines.append(f"- {label}: {c['missing']}.")
            continue
        m_ = c["routes"]["mixed"]
        lines.append(
            f"- {label}: load average {c['load_before']:.2f} → {c['load_after']:.2f}; "
            f"{c['pupils_read']} pupils read in turn, {c['register_pages']} register pages "
            f"of {PAGE} ({c['register_total']} pupils); mixed: {_records(m_)}, "
            f"writes not sent for want of a free writer pupil {m_['writes_skipped']}, "
            f"responses not paired with a request {m_['unpaired']}; "
            f"`ledger verify` afterwards: {'passes' if c['ledger_verifies'] else 'FAILS'}."
        )
    lines += [
        "",
        "Before (issue 15, same wrk settings): chronology 82 req/s on SQLite, 50 on PostgreSQL "
        "(p50 / p99 175 / 516 ms and 297 / 784 ms), "
        f"0.04{X} / 0.02{X} of the ceiling (2,019 / 2,333 req/s); register page 22 / 18 req/s "
        f"(p50 715 / 760 ms, p99 1.32 / 1.70 s), 0.011{X} / 0.008{X}; 60 s soak chronology p99 "
        "1.2 s / 1.9 s.",
        "",
        "Targets (issue 15):",
        "",
        *verdicts(result),
    ]
    return "\n".join(lines)


def write_docs(section: str, path: Path) -> None:
    """Put `section` in `path`, replacing an earlier one (up to the next `## ` heading)."""
    body = path.read_text()
    start = body.find(SECTION)
    before = body.find("\n## HTTP API\n")  # the older benchmark's section follows this one
    if start < 0 and before >= 0:
        body = body[: before + 1] + section.rstrip("\n") + "\n\n" + body[before + 1 :]
    elif start < 0:
        body = body.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    else:
        end = body.find("\n## ", start + len(SECTION))
        rest = "" if end < 0 else body[end:]
        body = body[:start] + section.rstrip("\n") + "\n" + rest
    path.write_text(body)


if __name__ == "__main__":
    if len(sys.argv) in (3, 4) and sys.argv[1] == "--write-docs":
        saved = json.loads(Path(sys.argv[2]).read_text())
        target = Path(sys.argv[3]) if len(sys.argv) == 4 else ROOT / "docs" / "performance.md"
        write_docs(render(saved), target)
        print(f"wrote the section to {target}")
    else:
        sys.exit("usage: python bench/http_wrk.py --write-docs RESULT.json [FILE]")
