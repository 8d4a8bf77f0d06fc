"""`chronicle serve --workers N` in real processes on a real PostgreSQL database: one
follower lease across the workers (kill its holder and another takes over within seconds,
what is written after is checkpointed, nothing integrated twice, `ledger verify` passes);
a web session survives the killed worker and a restart of the whole service; SQLite
refuses more than one worker. Each test makes its own CHRONICLE_HOME (and database) and
drops it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from api.leader import holders
from bench.http_load import LiveServer, ServerFailed, _free_port, live_server, postgres_database
from tests.conftest import PG_ADMIN_URL
from tests.factories import a_upn

TAKE_OVER_S = 10.0  # the lease is retried every second; generous for a loaded machine


class Serve:
    """`chronicle serve [--workers N]` on a free port of a `LiveServer`'s installation."""

    def __init__(self, server: LiveServer, workers: int = 1) -> None:
        self.server, self.workers = server, workers
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = server.home.parent / "serve.log"

    @property
    def url(self) -> str:
        return self.server.url

    def start(self, timeout: float = 90.0) -> None:
        self.server.port = _free_port()
        command = [sys.executable, "-m", "api.cli", "serve", "--port", str(self.server.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--workers", str(self.workers)],
                env=self.server.env(),
                cwd=self.server.home.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"serve exited {self.process.returncode}: {self.log()}")
            with suppress(httpx.TransportError):
                answered = httpx.get(f"{self.url}/openapi.json", timeout=2).status_code == 200
                if answered and (self.workers == 1 or len(self.children()) == self.workers):
                    return
            time.sleep(0.1)
        raise ServerFailed(f"serve did not answer within {timeout} s: {self.log()}")

    def children(self) -> list[int]:
        """The worker processes' ids (uvicorn's supervisor's children, its spawn helper
        left out: a worker is one that has opened a connection holding our application)."""
        assert self.process is not None
        found: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            with suppress(OSError):
                found += [int(p) for p in (task / "children").read_text().split()]
        return sorted(p for p in found if _is_worker(p))

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return "(no log)"


def _is_worker(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"multiprocessing.resource_tracker" not in command


@pytest.fixture
def postgres_home(tmp_path: Path) -> Iterator[tuple[LiveServer, Engine]]:
    try:
        create_engine(PG_ADMIN_URL).connect().close()
    except Exception as e:  # any failure to connect is the same failure
        pytest.fail(
            f"PostgreSQL is unreachable at {PG_ADMIN_URL} ({type(e).__name__}); "
            "deselect with -m 'not postgres'",
            pytrace=False,
        )
    with (
        postgres_database(PG_ADMIN_URL) as url,
        live_server(tmp_path / "home", url, demo_pupils=0) as server,
    ):
        engine = create_engine(url)
        try:
            yield server, engine
        finally:
            engine.dispose()


def _sign_in(url: str, token: str) -> httpx.Client:
    """A browser-like client signed in on the web (its session cookie set)."""
    client = httpx.Client(base_url=url, timeout=30, follow_redirects=True)
    form = client.get("/ui/sign-in")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf, form.text
    answer = client.post(
        "/ui/sign-in", data={"csrf_token": csrf.group(1), "token": token, "next": ""}
    )
    assert answer.status_code == 200 and "chronicle_session" in client.cookies, answer.text
    return client


def _signed_in_as(client: httpx.Client, name: str) -> bool:
    page = client.get("/ui/account", follow_redirects=False)
    return page.status_code == 200 and name in page.text


def _register(api: httpx.Client, n: int) -> str:
    body = {
        "upn": a_upn(),
        "legal_given_names": f"Worker{n}",
        "legal_family_name": "Lease-Test",
        "date_of_birth": "2016-03-01",
        "academy": "OAK",
        "year_group": 4,
    }
    answer = api.post("/pupils", json=body)
    assert answer.status_code == 201, answer.text
    pupil_id: str = answer.json()["pupil_id"]
    return pupil_id


def _counts(engine: Engine) -> tuple[int, int, int, int]:
    """(events in the store, leaves, distinct notifications among them, newest signed
    checkpoint's size)."""
    with engine.connect() as conn:
        events = conn.execute(text("SELECT count(*) FROM chronicle_events")).scalar_one()
        leaves, distinct = conn.execute(
            text("SELECT count(*), count(DISTINCT notification_id) FROM ledger_leaves")
        ).one()
        signed = conn.execute(text("SELECT coalesce(max(size), 0) FROM ledger_checkpoints"))
        return int(events), int(leaves), int(distinct), int(signed.scalar_one())


def _checkpointed(engine: Engine, within: float) -> tuple[int, int, int, int]:
    """Wait until a signed checkpoint covers every stored event (the follower's work: no
    request here asks for a checkpoint)."""
    deadline = time.monotonic() + within
    while True:
        counts = _counts(engine)
        if counts[0] == counts[3] or time.monotonic() > deadline:
            return counts
        time.sleep(0.1)


def test_one_worker_follows_another_takes_over_when_it_is_killed_and_sessions_survive(
    postgres_home: tuple[LiveServer, Engine],
) -> None:
    server, engine = postgres_home
    token = server.add_user("lease-sendco", "sendco")
    serve = Serve(server, workers=2)
    serve.start()
    try:
        api = httpx.Client(
            base_url=serve.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        web = _sign_in(serve.url, token)
        workers = serve.children()
        assert len(workers) == 2, workers
        (holder,) = holders(engine)  # exactly one process holds the lease ...
        assert holder in workers  # ... and it is one of the workers
        before = [_register(api, n) for n in range(3)]
        events, leaves, distinct, signed = _checkpointed(engine, 5)
        assert events == leaves == distinct == signed > 0, (events, leaves, distinct, signed)

        os.kill(holder, signal.SIGKILL)
        killed_at = time.monotonic()
        seen: list[list[int]] = []
        while time.monotonic() - killed_at < TAKE_OVER_S:
            now = holders(engine)
            seen.append(now)
            if now and now != [holder]:
                break
            time.sleep(0.05)
        took = time.monotonic() - killed_at
        assert all(len(h) <= 1 for h in seen), seen  # never two holders at once
        assert seen[-1] and seen[-1] != [holder], (seen[-5:], serve.log())
        (successor,) = seen[-1]
        print(f"lease taken over {took:.2f} s after SIGKILL")

        after = [_register(api, n) for n in range(3, 6)]
        for pupil in before[:1] + after[:1]:
            concern = {"source": "teacher", "description": "Finds transitions hard"}
            version = api.get(f"/pupils/{pupil}").json()["version"]
            written = api.post(
                f"/pupils/{pupil}/concerns", json=concern, headers={"If-Match": str(version)}
            )
            assert written.status_code == 201, written.text
        # The successor's follower signs what was written after the kill.
        events, leaves, distinct, signed = _checkpointed(engine, 5)
        assert events == leaves == distinct == signed, (events, leaves, distinct, signed)
        assert holders(engine) == [successor]
        # The session signed in before the kill still works, whichever worker answers.
        for _ in range(4):
            assert _signed_in_as(web, "lease-sendco")
        cookie = web.cookies["chronicle_session"]
        web.close()
        api.close()
    finally:
        serve.stop()
    log = serve.log()
    assert "Traceback" not in log, log
    assert holders(engine) == []  # the lease went with the service
    verified = server.cli("ledger", "verify", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "The ledger verifies" in verified.stdout
    events, leaves, distinct, _ = _counts(engine)
    assert events == leaves == distinct  # no event integrated twice, none left out

    # The whole service restarted: the same cookie is still signed in.
    serve.start()
    try:
        again = httpx.Client(base_url=serve.url, cookies={"chronicle_session": cookie})
        assert _signed_in_as(again, "lease-sendco"), serve.log()
        again.close()
    finally:
        serve.stop()


def test_more_than_one_worker_on_sqlite_is_refused(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve", "--workers", "2", "--port", "1"],
        env=server.env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert "SQLite is single-process" in lines[0] and "PostgreSQL" in lines[0]
    assert done.stdout == ""
    assert not (tmp_path / "home").exists()  # nothing made, nothing started
