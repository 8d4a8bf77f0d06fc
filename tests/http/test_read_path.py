"""The read path: no record, no content; read-your-writes across server processes; access
records committed in groups, each reader's exactly once. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy.exc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from api.app.access import access_records
from api.application import PupilRecords
from api.bootstrap import assemble, build_ledger
from api.http import create_app
from api.http.models import Chronology, RegisterOut
from api.users import Users
from crypto.kek import InMemoryKekRing, KekRing
from domain.access import AccessLogOpened, RecordsViewed, access_stream_id
from domain.values import Role
from tests.conftest import OpenRecords
from tests.http.conftest import Api, list_academies

CONCERN = {"source": "teacher", "description": "Finds the noise of the hall overwhelming"}


def _failing_access_commits(records: PupilRecords, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every commit of an access record fails at the database, as a lost connection does."""
    save = records.save

    def failing(*objs: Any, **kwargs: Any) -> Any:
        if any(type(o).__name__ == "AccessLog" for o in objs):
            raise sqlalchemy.exc.OperationalError("COMMIT", {}, Exception("connection lost"))
        return save(*objs, **kwargs)

    monkeypatch.setattr(records, "save", failing)


@pytest.mark.parametrize(
    "path",
    ["/pupils/{id}", "/pupils/{id}/chronology", "/register?limit=200", "/pupils?limit=200"],
)
def test_a_read_whose_access_record_does_not_commit_shows_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    pupil = api.add_pupil()
    sendco = api.headers(Role.SENDCO)
    assert api.client.get(f"/pupils/{pupil.id}/chronology", headers=sendco).is_success
    before = api.events(_stream(pupil.id))
    _failing_access_commits(api.records, monkeypatch)
    answer = api.client.get(path.format(id=pupil.id), headers=sendco)
    assert answer.status_code == 503, answer.text
    assert "Retry-After" in answer.headers
    for shown in (pupil.legal_family_name, pupil.upn, str(pupil.id)):
        assert shown not in answer.text
    assert api.events(_stream(pupil.id)) == before


def _stream(pupil_id: UUID) -> UUID:
    return access_stream_id(pupil_id)


class Worker:
    """One server process of several on the same database: its own records (and caches),
    its own application, no background followers (so nothing but the request itself can
    bring its read models up to date)."""

    def __init__(self, records: PupilRecords, users: Users, tmp: Path) -> None:
        key = Ed25519PrivateKey.generate()
        chronicle = assemble(
            records,
            build_ledger(records, key, None),
            users=users,
            signing_key=key,
            purge_journal=tmp / "purges.jsonl",
        )
        self.client = TestClient(create_app(chronicle), raise_server_exceptions=False)


@pytest.fixture
def workers(
    open_records: OpenRecords, tmp_path: Path
) -> Iterator[tuple[Worker, Worker, Api, KekRing]]:
    ring = InMemoryKekRing()
    first, second = open_records(ring), open_records(ring)
    list_academies(first)
    users = Users(first.datastore.engine)
    a, b = Worker(first, users, tmp_path), Worker(second, Users(second.datastore.engine), tmp_path)
    with a.client, b.client:
        yield a, b, Api(a.client, first, build_ledger(first, None, None), users), ring


def test_a_write_on_one_worker_is_read_on_another_given_its_position(
    workers: tuple[Worker, Worker, Api, KekRing],
) -> None:
    a, b, api, _ = workers
    pupil = api.add_pupil()
    sendco = api.headers(Role.SENDCO)
    # B has served a read before A's write (it knows the log as far as it was then).
    assert b.client.get(f"/pupils/{pupil.id}/chronology", headers=sendco).is_success
    written = a.client.post(
        f"/pupils/{pupil.id}/concerns",
        headers={**sendco, "If-Match": str(api.version(pupil.id))},
        json=CONCERN,
    )
    assert written.status_code == 201, written.text
    seq, position = written.json()["seq"], written.headers["X-Chronicle-Position"]
    assert int(position) >= seq

    def seqs(headers: dict[str, str]) -> list[int]:
        answer = b.client.get(f"/pupils/{pupil.id}/chronology", headers=headers)
        assert answer.is_success, answer.text
        return [e["seq"] for e in answer.json()["entries"]]

    # B knows nothing of A's write, and nothing here follows the log in the background:
    # without the position B answers from where the read models stand; with it, B brings
    # them up to the write first.
    assert seq not in seqs(sendco)
    assert seq in seqs({**sendco, "X-Chronicle-Position": position})


def test_a_position_that_is_not_a_number_is_a_400(api: Api) -> None:
    pupil = api.add_pupil()
    answer = api.client.get(
        f"/pupils/{pupil.id}",
        headers={**api.headers(Role.SENDCO), "X-Chronicle-Position": "12; DROP"},
    )
    assert answer.status_code == 400 and answer.json()["error"] == "bad_position", answer.text


def test_readers_arriving_together_each_get_exactly_one_access_record(api: Api) -> None:
    """Sixteen readers of the same two pupils at once: every read is recorded once, the
    stream's versions run on without a gap, and fewer transactions than reads were needed
    (the readers were grouped)."""
    first, second = api.add_pupil(), api.add_pupil()
    already = len(api.users.everyone())  # staff ids number the people added so far
    people = [api.headers(Role.SENDCO) for _ in range(16)]
    commits: list[int] = []
    save = api.records.save

    def counting(*objs: Any, **kwargs: Any) -> Any:
        if any(type(o).__name__ == "AccessLog" for o in objs):
            commits.append(len(objs))
        return save(*objs, **kwargs)

    api.records.save = counting  # type: ignore[method-assign]
    start = threading.Barrier(len(people))
    answers: list[int] = []

    def read(headers: dict[str, str], n: int) -> None:
        start.wait()
        for pupil in (first, second) if n % 2 else (second, first):
            answers.append(
                api.client.get(f"/pupils/{pupil.id}/chronology", headers=headers).status_code
            )

    threads = [threading.Thread(target=read, args=(h, n)) for n, h in enumerate(people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    api.records.save = save  # type: ignore[method-assign]
    assert answers == [200] * 32
    for pupil in (first, second):
        reads = access_records(api.records, pupil.id)
        assert sorted(r["recorded_by"]["staff_id"] for r in reads) == sorted(
            f"sendco-{already + n}" for n in range(16)
        ), reads
        stored = api.records.stored_events(_stream(pupil.id))
        assert [e.originator_version for e in stored] == list(range(1, 18))
        kinds = [api.records.mapper.to_domain_event(e) for e in stored]
        assert isinstance(kinds[0], AccessLogOpened)
        assert all(isinstance(k, RecordsViewed) for k in kinds[1:])
    assert len(commits) < 32, commits


def test_two_processes_appending_to_one_stream_keep_it_gapless(api: Api) -> None:
    """Two group commits (as in two server processes, each remembering the heads it wrote)
    take turns on one pupil's stream: each append after the other's finds its remembered
    head stale, loses the race, reads the head again, and every record lands once, in a
    gapless stream."""
    from api.app.access import GroupCommit
    from domain.values import Recorder

    pupil = api.add_pupil()
    first, second = GroupCommit(api.records), GroupCommit(api.records)
    for n in range(6):
        (first if n % 2 else second).record(
            [pupil.id], Recorder(f"s{n}", Role.SENDCO), "record", None
        )
    stored = api.records.stored_events(_stream(pupil.id))
    assert [e.originator_version for e in stored] == list(range(1, 8))
    reads = access_records(api.records, pupil.id)
    assert [r["recorded_by"]["staff_id"] for r in reads] == [f"s{n}" for n in range(6)]


@pytest.mark.parametrize(
    ("path", "model"),
    [("/pupils/{id}/chronology", Chronology), ("/register?limit=50", RegisterOut)],
)
def test_a_hot_route_answers_as_its_response_model_would(api: Api, path: str, model: Any) -> None:
    """The chronology and the register page write their JSON themselves (api/http/answers.py,
    to spare a thread hand-off): the answer is exactly the response model's JSON, with the
    content type and security headers every answer has."""
    pupil = api.add_pupil()
    api.add_pupil("RIV")
    answer = api.client.get(path.format(id=pupil.id), headers=api.headers(Role.SENDCO))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-content-type-options"] == "nosniff"
    body = answer.json()
    assert body and model.model_validate(body).model_dump(mode="json") == body
    assert answer.content == model.model_validate(body).model_dump_json().encode()
