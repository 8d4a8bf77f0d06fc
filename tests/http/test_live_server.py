"""Concurrent writers through a real `chronicle serve` on loopback, on SQLite and PostgreSQL.

A fresh CHRONICLE_HOME (and, for PostgreSQL, a fresh database) per store; people are added
with `chronicle users add --json` and pupils registered with POST /pupils. Then many client
threads, each with its own keep-alive connection, write concerns to the same three pupils
with If-Match set to the version they last read, re-reading on 409; some requests are sent
twice at once with the same Idempotency-Key (a client retrying after a timeout). Afterwards:
every write answered 201 is in its pupil's chronology exactly once and where its answer
said; every other answer was a 409 that wrote nothing; each key's retry returns the first
answer and writes nothing; and `chronicle ledger verify` passes. The server is stopped and
the database dropped whatever happens.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from bench.http_load import LiveServer, live_server, postgres_database
from tests.conftest import PG_ADMIN_URL
from tests.factories import a_upn

PUPILS = 3
WRITERS = 24  # client threads, each with two connections (for the doubled requests)
PEOPLE = 3  # writers share these people, so keys are unique per person
WRITES_EACH = 3  # accepted writes each writer aims for
WRITE_PHASE_S = 15.0  # then writers stop wherever they are
DOUBLE_EVERY = 4  # every 4th request is sent twice at once with the same key


@dataclass
class Attempt:
    """One POST (or two identical ones at once) and what came back."""

    person: int
    pupil: str
    key: str
    if_match: int
    body: dict[str, Any]
    answers: list[httpx.Response] = field(default_factory=list)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    """A started server on a fresh home: SQLite in it, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        with live_server(tmp_path / "home", None, demo_pupils=0) as started:
            yield started
        return
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
        live_server(tmp_path / "home", url, demo_pupils=0) as started,
    ):
        yield started


def test_concurrent_if_match_writers_lose_nothing_and_duplicate_nothing(
    server: LiveServer,
) -> None:
    run = secrets.token_hex(4)
    tokens = [server.add_user(f"live-sendco-{i}", "sendco") for i in range(PEOPLE)]
    server.start()
    refused_reads: list[str] = []
    try:
        _exercise(server, run, tokens, refused_reads)
    except BaseException:
        print(f"server log:\n{server.log()}")
        raise
    server.stop()
    assert "Traceback" not in server.log(), server.log()
    verified = server.cli("ledger", "verify", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "The ledger verifies" in verified.stdout
    # Checked last, so that the write guarantees above are reported on their own.
    assert not refused_reads, f"{len(refused_reads)} re-reads refused, e.g. {refused_reads[:3]}"


def _exercise(server: LiveServer, run: str, tokens: list[str], refused_reads: list[str]) -> None:
    clients = [_client(server, t) for t in tokens]
    try:
        pupils = [_register(clients[0], run, n) for n in range(PUPILS)]
        start_versions = {p: _version(clients[0], p) for p in pupils}
        attempts = _write_concurrently(server, tokens, pupils, run, refused_reads)
        accepted = _check_answers(attempts)
        _check_replays(server, tokens, accepted)
        _check_chronologies(clients[0], run, pupils, start_versions, attempts, accepted)
    finally:
        for c in clients:
            c.close()


def _client(server: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def _register(client: httpx.Client, run: str, n: int) -> str:
    body = {
        "upn": a_upn(),
        "legal_given_names": f"Live{n}",
        "legal_family_name": f"Pupil-{run}",
        "date_of_birth": "2016-03-01",
        "academy": "OAK",
        "year_group": 4,
    }
    headers = {"Idempotency-Key": f"register-{run}-{n}"}
    first = client.post("/pupils", json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = client.post("/pupils", json=body, headers=headers)
    assert again.status_code == 201 and again.json() == first.json(), again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    pupil_id: str = first.json()["pupil_id"]
    return pupil_id


def _version(client: httpx.Client, pupil: str) -> int:
    read = client.get(f"/pupils/{pupil}")
    assert read.status_code == 200, read.text
    version: int = read.json()["version"]
    assert read.headers["ETag"] == f'"{version}"'
    return version


def _write_concurrently(
    server: LiveServer, tokens: list[str], pupils: list[str], run: str, refused_reads: list[str]
) -> list[Attempt]:
    attempts: list[Attempt] = []
    lock = threading.Lock()
    start = threading.Barrier(WRITERS)
    stop_at = time.monotonic() + WRITE_PHASE_S + 10  # generous: the barrier comes first

    def writer(w: int) -> None:
        person = w % PEOPLE
        mine: list[Attempt] = []
        with (
            _client(server, tokens[person]) as client,
            _client(server, tokens[person]) as twin,
            ThreadPoolExecutor(1) as helper,
        ):
            start.wait()
            deadline = min(stop_at, time.monotonic() + WRITE_PHASE_S)
            versions: dict[str, int] = {}
            accepted = n = 0
            while accepted < WRITES_EACH and time.monotonic() < deadline:
                pupil = pupils[(w + accepted) % len(pupils)]
                if pupil not in versions:
                    read = client.get(f"/pupils/{pupil}")
                    if read.status_code != 200:
                        with lock:
                            refused_reads.append(f"{read.status_code} {read.text}")
                        continue  # noted, and failed at the end; the writes go on
                    versions[pupil] = read.json()["version"]
                n += 1
                marker = f"live-{run}-w{w}-n{n}"
                attempt = Attempt(
                    person,
                    pupil,
                    key=f"{marker}-key",
                    if_match=versions[pupil],
                    body={"source": "teacher", "description": marker, "evidence": "load"},
                )
                mine.append(attempt)
                send = (client, twin) if n % DOUBLE_EVERY == 0 else (client,)
                if len(send) == 2:
                    other = helper.submit(_post, twin, attempt)
                    attempt.answers.append(_post(client, attempt))
                    attempt.answers.append(other.result())
                else:
                    attempt.answers.append(_post(client, attempt))
                winner = next((a for a in attempt.answers if a.status_code == 201), None)
                if winner is not None:
                    accepted += 1
                    versions[pupil] = winner.json()["version"]
                else:
                    del versions[pupil]  # re-read before the next write to this pupil
        with lock:
            attempts.extend(mine)

    with ThreadPoolExecutor(WRITERS) as pool:
        for done in [pool.submit(writer, w) for w in range(WRITERS)]:
            done.result()
    return attempts


def _post(client: httpx.Client, attempt: Attempt) -> httpx.Response:
    return client.post(
        f"/pupils/{attempt.pupil}/concerns",
        json=attempt.body,
        headers={"If-Match": str(attempt.if_match), "Idempotency-Key": attempt.key},
    )


def _check_answers(attempts: list[Attempt]) -> list[Attempt]:
    """Every answer is a 201 or a 409; a doubled request is answered alike both times."""
    statuses = Counter(r.status_code for a in attempts for r in a.answers)
    odd = [
        (a.key, r.status_code, r.text) for a in attempts for r in a.answers if r.status_code > 409
    ]
    assert set(statuses) <= {201, 409}, (statuses, odd[:5])
    accepted = [a for a in attempts if a.answers[0].status_code == 201]
    assert statuses[409] > 0, "no conflicts: the writers never actually raced"
    assert len(accepted) >= WRITERS, (statuses, "too few writes got through")
    for a in attempts:
        first = a.answers[0]
        if first.status_code == 409:
            assert first.json()["current_version"] > a.if_match, first.text
        # Two identical requests with one key: one write, and both get its answer (or both
        # were refused as stale). A 201 next to a 409 would leave the client unsure.
        assert len({r.status_code for r in a.answers}) == 1, (a.key, [r.text for r in a.answers])
        if first.status_code == 201:
            assert all(r.json() == first.json() for r in a.answers), a.key
            assert first.json()["version"] == a.if_match + 1
            assert first.json()["type"] == "ConcernRaised"
            replayed = [r.headers.get("Idempotent-Replayed") == "true" for r in a.answers]
            assert replayed.count(False) == 1, (a.key, replayed)
    return accepted


def _check_replays(server: LiveServer, tokens: list[str], accepted: list[Attempt]) -> None:
    """Retrying every accepted write (now long stale) returns its first answer."""

    def retry(a: Attempt) -> tuple[Attempt, httpx.Response]:
        with _client(server, tokens[a.person]) as client:
            return a, _post(client, a)

    with ThreadPoolExecutor(16) as pool:
        for a, again in pool.map(retry, accepted):
            assert again.status_code == 201, (a.key, again.text)
            assert again.json() == a.answers[0].json(), a.key
            assert again.headers["Idempotent-Replayed"] == "true"


def _check_chronologies(
    client: httpx.Client,
    run: str,
    pupils: list[str],
    start_versions: dict[str, int],
    attempts: list[Attempt],
    accepted: list[Attempt],
) -> None:
    """Each accepted write once, at the seq it was given; nothing else of this run."""
    for pupil in pupils:
        read = client.get(f"/pupils/{pupil}/chronology", params={"kind": "ConcernRaised"})
        assert read.status_code == 200, read.text
        found = Counter(
            (e["payload"]["description"], e["seq"])
            for e in read.json()["entries"]
            if e["payload"]["description"].startswith(f"live-{run}-")
        )
        expected = Counter(
            (a.body["description"], a.answers[0].json()["seq"])
            for a in accepted
            if a.pupil == pupil
        )
        assert found == expected, (pupil, found - expected, expected - found)
        refused = {a.body["description"] for a in attempts if a.pupil == pupil} - {
            d for d, _ in expected
        }
        assert not refused & {d for d, _ in found}
        assert _version(client, pupil) == start_versions[pupil] + len(expected)


def test_keys_rotate_while_the_service_runs_fails_no_read_or_write(server: LiveServer) -> None:
    """`chronicle keys rotate` (another process) twice while clients read existing pupils,
    write to them and register new ones (new data keys): every answer is a success, and
    afterwards every pupil reads and the ledger verifies."""
    run = secrets.token_hex(4)
    token = server.add_user("rotating-sendco", "sendco")
    server.start()
    failures: list[str] = []
    stop = threading.Event()
    with _client(server, token) as setup:
        pupils = [_register(setup, run, n) for n in range(4)]

    def work(worker: int) -> None:
        with _client(server, token) as client:
            n = 0
            while not stop.is_set():
                n += 1
                pupil = pupils[(worker + n) % len(pupils)]
                read = client.get(f"/pupils/{pupil}/chronology")
                if read.status_code != 200:
                    failures.append(f"read {read.status_code} {read.text[:200]}")
                    continue
                version = read.json()["entries"][-1]["seq"]
                wrote = client.post(
                    f"/pupils/{pupil}/concerns",
                    headers={"If-Match": str(version)},
                    json={"source": "teacher", "description": f"rotation {run} {worker} {n}"},
                )
                if wrote.status_code not in (201, 409):  # 409: another worker wrote first
                    failures.append(f"write {wrote.status_code} {wrote.text[:200]}")
                if n % 3 == 0:
                    new = _register(client, f"{run}-{worker}", n)  # a new pupil: a new key
                    pupils.append(new)

    with ThreadPoolExecutor(6) as pool:
        running = [pool.submit(work, w) for w in range(6)]
        time.sleep(1.0)
        for _ in range(2):
            rotated = server.cli("keys", "rotate", check=False)
            assert rotated.returncode == 0, rotated.stdout + rotated.stderr
            time.sleep(1.0)
        stop.set()
        for done in running:
            done.result()
    with _client(server, token) as client:
        for pupil in pupils:
            read = client.get(f"/pupils/{pupil}/chronology")
            if read.status_code != 200:
                failures.append(f"after: read {read.status_code} {read.text[:200]}")
    server.stop()
    assert not failures, failures[:5]
    assert "Traceback" not in server.log(), server.log()
    verified = server.cli("ledger", "verify", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    keys = list((server.home / "keys").glob("kek-*.json"))
    assert len(keys) == 1, keys  # the two old KEKs were retired after their re-wrap
