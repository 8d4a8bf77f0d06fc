"""Read-your-writes, and nothing more: a read waits for the read models it reads only as
far as the caller's own writes (the position the write answered with, sent back or not),
never for others' writes, and only for the projections it reads; the command line's
operator sees every write. These apps run no background follower, so nothing but the
read itself brings the read models on. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any
from uuid import UUID

import pytest

from api.app.caller import Caller
from api.app.queries import ChronologyFilters
from api.app.service import Chronicle
from domain.values import Role
from projections.runner import ProjectionRunner
from tests.factories import a_upn
from tests.http.conftest import Api

CONCERN = {"source": "teacher", "description": "Covers her ears when the hand dryer starts"}


class Spied:
    """Every catch-up the runner makes (`_follow`: a pass over the log) and every wait a
    read asks for (`wait_for`, with the projections named)."""

    def __init__(self) -> None:
        self.follows: list[list[str]] = []
        self.waits: list[frozenset[str] | None] = []

    def clear(self) -> None:
        self.follows.clear()
        self.waits.clear()


@pytest.fixture
def spied(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spied]:
    seen = Spied()
    follow, wait_for = ProjectionRunner._follow, ProjectionRunner.wait_for

    def following(self: ProjectionRunner, projections: list[Any], *args: Any) -> int:
        seen.follows.append([p.name for p in projections])
        return follow(self, projections, *args)

    def waiting(
        self: ProjectionRunner, position: int, names: Collection[str] | None = None
    ) -> None:
        seen.waits.append(None if names is None else frozenset(names))
        wait_for(self, position, names)

    monkeypatch.setattr(ProjectionRunner, "_follow", following)
    monkeypatch.setattr(ProjectionRunner, "wait_for", waiting)
    yield seen


def _chronicle(api: Api) -> Chronicle:
    found: Chronicle = api.client.app.state.chronicle  # type: ignore[attr-defined]
    return found


def _write(api: Api, headers: dict[str, str], pupil_id: UUID) -> tuple[int, str]:
    written = api.client.post(
        f"/pupils/{pupil_id}/concerns",
        headers={**headers, "If-Match": str(api.version(pupil_id))},
        json=CONCERN,
    )
    assert written.status_code == 201, written.text
    return written.json()["seq"], written.headers["X-Chronicle-Position"]


def _seqs(api: Api, headers: dict[str, str], pupil_id: UUID) -> list[int]:
    answer = api.client.get(f"/pupils/{pupil_id}/chronology", headers=headers)
    assert answer.status_code == 200, answer.text
    return [e["seq"] for e in answer.json()["entries"]]


def test_a_writer_reads_their_write_with_or_without_its_position(api: Api) -> None:
    pupil = api.add_pupil()
    writer = api.headers(Role.SENDCO)
    assert _seqs(api, writer, pupil.id) == [1, 2]
    seq, position = _write(api, writer, pupil.id)
    assert int(position) >= seq
    assert seq in _seqs(api, writer, pupil.id)  # no header: this process remembers
    seq, position = _write(api, writer, pupil.id)
    assert seq in _seqs(api, {**writer, "X-Chronicle-Position": position}, pupil.id)
    # The register too: a new pupil, registered through the API, is on the writer's page.
    registered = api.client.post(
        "/pupils",
        headers=writer,
        json={
            "upn": a_upn(),
            "legal_given_names": "Ada",
            "legal_family_name": "Okonkwo-Hale",
            "date_of_birth": "2016-03-04",
            "academy": "OAK",
            "year_group": 4,
        },
    )
    assert registered.status_code == 201, registered.text
    shown = api.client.get("/register?limit=200", headers=writer).json()["pupils"]
    assert registered.json()["pupil_id"] in {r["pupil_id"] for r in shown}


def test_a_read_does_not_wait_for_a_write_its_caller_did_not_make(api: Api, spied: Spied) -> None:
    pupil = api.add_pupil()
    writer, reader = api.headers(Role.SENDCO), api.headers(Role.SENDCO)
    assert _seqs(api, reader, pupil.id) == [1, 2]  # both have read up to here
    assert _seqs(api, writer, pupil.id) == [1, 2]
    seq, _ = _write(api, writer, pupil.id)
    spied.clear()
    # The other person's read asks for the chronology and finds it where it stands: no
    # catch-up runs for a write they did not make (it shows once the follower brings it).
    assert seq not in _seqs(api, reader, pupil.id)
    assert spied.waits == [frozenset({"chronology"})] and spied.follows == []
    # The writer's own read catches the chronology up, and only the chronology.
    assert seq in _seqs(api, writer, pupil.id)
    assert spied.follows == [["chronology"]]
    # Now it is there for everyone, with no further catch-up.
    spied.clear()
    assert seq in _seqs(api, reader, pupil.id)
    assert spied.follows == []


def test_the_command_lines_operator_waits_for_every_write_of_the_process(
    api: Api, spied: Spied
) -> None:
    """The CLI is one process doing steps in turn: each sees every write before it."""
    pupil = api.add_pupil()
    writer = api.headers(Role.SENDCO)
    assert _seqs(api, writer, pupil.id) == [1, 2]
    seq, _ = _write(api, writer, pupil.id)
    spied.clear()
    operator = Caller.operator("OAK-sendco-9", Role.SENDCO)
    entries = _chronicle(api).reads.chronology_entries(
        operator, pupil.id, ChronologyFilters(), None
    )
    assert seq in [e.seq for e in entries]
    assert spied.follows == [["chronology"]]


def test_writes_made_for_nobody_in_particular_are_waited_for_by_every_reader(
    api: Api,
) -> None:
    """A save made straight on the records (the demo, an import, these tests' pupils) is no
    one person's: every read of the process shows it."""
    reader = api.headers(Role.SENDCO)
    first = api.add_pupil()
    assert _seqs(api, reader, first.id) == [1, 2]
    second = api.add_pupil()
    assert _seqs(api, reader, second.id) == [1, 2]


@pytest.mark.parametrize(
    ("role", "academies", "path", "reads"),
    [
        (Role.SENDCO, ("OAK",), "/pupils/{id}/chronology", {"chronology"}),
        (Role.SENDCO, ("OAK",), "/pupils?limit=10", {"send_register"}),
        (Role.SENDCO, ("OAK",), "/register?limit=10", {"send_register"}),
        (Role.SENDCO, ("OAK",), "/deadlines", {"deadlines"}),
        (Role.DSL, ("OAK",), "/safeguarding/cross-references", {"safeguarding"}),
        (Role.DSL, ("OAK",), "/safeguarding/awaiting-decision", {"safeguarding"}),
        (Role.DSL, ("OAK",), "/access-log", {"access_log"}),
        (Role.DPO, (), "/retention/schedule", {"retention_schedule", "deadlines"}),
        (Role.DPO, ("OAK",), "/pupils/{id}/retention", {"retention_schedule"}),
        (Role.SENDCO, ("OAK",), "/pupils/{id}", None),
        (Role.DSL, ("OAK",), "/pupils/{id}/access-log", None),
    ],
)
def test_a_query_waits_only_for_the_read_models_it_reads(
    api: Api,
    spied: Spied,
    role: Role,
    academies: tuple[str, ...],
    path: str,
    reads: set[str] | None,
) -> None:
    """Each route's query names the projections it reads (api/app/queries.py `READS`), and
    after a write of the caller's own only those catch up; a read of the pupil's own events
    waits for none."""
    pupil = api.add_pupil(safeguarding=True)
    headers = api.headers(role, academies)
    writer = api.headers(Role.SENDCO)
    assert api.client.get(path.format(id=pupil.id), headers=headers).status_code == 200
    _, position = _write(api, writer, pupil.id)
    spied.clear()
    answer = api.client.get(
        path.format(id=pupil.id), headers={**headers, "X-Chronicle-Position": position}
    )
    assert answer.status_code == 200, answer.text
    if reads is None:
        assert spied.waits == [] and spied.follows == []
        return
    assert spied.waits == [frozenset(reads)]
    assert [set(f) for f in spied.follows] == [reads]


def test_every_query_that_waits_is_declared() -> None:
    """`READS` names each query that reads a read model, with projections that exist."""
    from api.app.queries import READS, Reads
    from projections.catalogue import build_projections
    from tests.factories import DEFAULT

    known = {p.name for p in build_projections(DEFAULT)}
    assert set(READS) <= {name for name in dir(Reads) if not name.startswith("__")}
    assert all(names and names <= known for names in READS.values())


def test_a_write_that_does_not_commit_is_not_waited_for(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The position is kept only once the write's transaction commits: a write that fails
    at the store (here its idempotency record) leaves the writer's position where it was."""
    import sqlalchemy.exc

    from api.app.idempotency import IdempotencyStore

    pupil = api.add_pupil()
    writer = api.headers(Role.SENDCO)
    _write(api, writer, pupil.id)
    user = api.users.by_token(writer["Authorization"].removeprefix("Bearer "))
    assert user is not None
    caller = Caller.of_user(user)
    before = _chronicle(api).position(caller)

    def failing(*args: Any, **kwargs: Any) -> None:
        raise sqlalchemy.exc.OperationalError("INSERT", {}, Exception("connection lost"))

    monkeypatch.setattr(IdempotencyStore, "remember", failing)
    refused = api.client.post(
        f"/pupils/{pupil.id}/concerns",
        headers={**writer, "If-Match": str(api.version(pupil.id)), "Idempotency-Key": "k-1"},
        json=CONCERN,
    )
    assert refused.status_code == 503, refused.text
    assert _chronicle(api).position(caller) == before
    assert len(api.records.entries(pupil.id)) == 3  # nothing of the failed write
