"""The access log read model on SQLite and PostgreSQL: who read which pupil's records, when,
what and why; filters by pupil, staff member, dates and academy; the purpose decrypted on
demand and never stored; a purge clears the pupil's rows; rebuilt equals incremental; and
`chronicle access-log`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import closing
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select

from api.app.access import record_views
from api.application import PupilRecords
from api.bootstrap import init_home
from api.bootstrap import open_records as open_home_records
from api.settings import load_settings
from domain.access import access_stream_id
from domain.pupil import Pupil
from domain.values import Recorder, Role
from projections.access_log import (
    OTHER,
    AccessLogIndex,
    AccessLogQueryError,
    access_log,
    what_code,
)
from projections.catalogue import build_projections
from projections.runner import ProjectionRunner
from tests.conftest import Store
from tests.factories import DPO, a_pupil, on

SENDCO_OAK = Recorder("OAK-sendco-1", Role.SENDCO)
DSL_RIV = Recorder("RIV-dsl-1", Role.DSL)
TEACHER_OAK = Recorder("OAK-teacher-3", Role.TEACHER)
PURPOSE = "Preparing for Tuesday's meeting with Mrs Pemberton-Okafor about the bruising"


def runner(records: PupilRecords) -> ProjectionRunner:
    return ProjectionRunner(records, build_projections(records.policy))


def read(
    records: PupilRecords,
    pupils: list[Pupil],
    by: Recorder,
    day: date,
    what: str,
    purpose: str | None = None,
) -> None:
    """Record a read on `day` at noon, as the HTTP layer does."""
    at = datetime.combine(day, time(12), tzinfo=UTC)
    records.clock = lambda: at
    record_views(records, [p.id for p in pupils], by, what, purpose)


def snapshot(records: PupilRecords) -> dict[str, list[tuple[str, ...]]]:
    with records.datastore.transaction(commit=False) as session:
        return {
            t.name: sorted(tuple(str(v) for v in row) for row in session.execute(select(t)))
            for t in AccessLogIndex.tables
        }


def purge(records: PupilRecords, pupil_id: UUID, day: date) -> None:
    loaded = records.get_pupil(pupil_id)
    loaded.record_purge(proposed_by="dpo-1", approved_by="dpo-2", reason="End", **on(day, DPO))
    records.save(loaded)
    records.shred(pupil_id)


@pytest.fixture
def school(records: PupilRecords) -> dict[str, Pupil]:
    """Three pupils (two at OAK, one at RIV) read by three people over a week; Bea moves to
    RIV half way through."""
    amy = a_pupil("Amy", "Ashdown", academy="OAK", concerns=1)
    bea = a_pupil("Bea", "Brackenridge", academy="OAK", concerns=1)
    cal = a_pupil("Cal", "Cunningham", academy="RIV", concerns=1)
    records.save(amy, bea, cal)
    read(records, [amy, bea], SENDCO_OAK, date(2025, 3, 3), "register", "Weekly register check")
    read(records, [amy], SENDCO_OAK, date(2025, 3, 4), "chronology?kind=ConcernRaised", PURPOSE)
    read(records, [cal], DSL_RIV, date(2025, 3, 5), "record", None)
    runner(records).catch_up()  # incremental: the transfer comes after these reads
    moved = records.get_pupil(bea.id)
    moved.transfer_within_trust(to_academy="RIV", reason="Family moved", **on(date(2025, 3, 6)))
    records.save(moved)
    read(records, [bea], DSL_RIV, date(2025, 3, 7), "record", "Transfer file review")
    read(records, [amy], TEACHER_OAK, date(2025, 3, 10), "record", "Lesson planning")
    runner(records).catch_up()
    return {"amy": amy, "bea": bea, "cal": cal}


def test_every_read_is_a_row_with_who_what_when_and_the_purpose(
    records: PupilRecords, school: dict[str, Pupil]
) -> None:
    rows = access_log(records)
    # In time order; reads at the same moment by pupil id.
    first = sorted((school["amy"].id, school["bea"].id), key=lambda u: u.hex)
    assert [(r.pupil_id, r.staff_id, r.read_on.day) for r in rows] == [
        (first[0], "OAK-sendco-1", 3),
        (first[1], "OAK-sendco-1", 3),
        (school["amy"].id, "OAK-sendco-1", 4),
        (school["cal"].id, "RIV-dsl-1", 5),
        (school["bea"].id, "RIV-dsl-1", 7),
        (school["amy"].id, "OAK-teacher-3", 10),
    ]
    chronology_read = rows[2]
    assert chronology_read.role == "sendco" and chronology_read.what == "chronology"
    assert chronology_read.detail == "chronology?kind=ConcernRaised"
    assert chronology_read.purpose == PURPOSE
    assert chronology_read.recorded_at.startswith("2025-03-04T12:00:00")
    assert rows[3].purpose is None and rows[3].detail == "record"
    assert chronology_read.as_json() == {
        "pupil_id": str(school["amy"].id),
        "seq": chronology_read.seq,
        "staff_id": "OAK-sendco-1",
        "role": "sendco",
        "what": "chronology",
        "detail": "chronology?kind=ConcernRaised",
        "read_on": "2025-03-04",
        "recorded_at": chronology_read.recorded_at,
        "academy": "OAK",
        "purpose": PURPOSE,
    }
    # Without details nothing is decrypted: the purpose stays in the entry.
    assert all(r.purpose is None and r.detail is None for r in access_log(records, details=False))


def test_filters_by_pupil_staff_dates_and_academy(
    records: PupilRecords, school: dict[str, Pupil]
) -> None:
    amy, bea = school["amy"].id, school["bea"].id

    def days(**kw: Any) -> list[int]:
        return [r.read_on.day for r in access_log(records, details=False, **kw)]

    assert days(pupil=amy) == [3, 4, 10]
    assert days(staff="RIV-dsl-1") == [5, 7]
    assert days(since=date(2025, 3, 4), until=date(2025, 3, 7)) == [4, 5, 7]
    assert days(pupil=amy, staff="OAK-sendco-1", until=date(2025, 3, 3)) == [3]
    # The academy the pupil was at when it was read: Bea's first read was at OAK.
    oak = [(r.pupil_id, r.read_on.day) for r in access_log(records, academy="OAK")]
    assert sorted(oak[:2]) == sorted([(amy, 3), (bea, 3)]) and oak[2:] == [(amy, 4), (amy, 10)]
    assert [r.pupil_id for r in access_log(records, academy="RIV")] == [school["cal"].id, bea]
    assert days(limit=2) == [7, 10]
    assert days(staff="nobody") == []
    with pytest.raises(AccessLogQueryError, match="after"):
        access_log(records, since=date(2025, 3, 8), until=date(2025, 3, 1))


def test_a_purge_clears_the_pupils_rows_and_later_reads(
    records: PupilRecords, school: dict[str, Pupil]
) -> None:
    following = runner(records)
    amy = school["amy"]
    assert len(access_log(records, pupil=amy.id)) == 3
    loaded = records.get_pupil(amy.id)
    loaded.record_purge(
        proposed_by="dpo-1", approved_by="dpo-2", reason="End", **on(date(2025, 6, 2), DPO)
    )
    records.save(loaded)
    # A read between the tombstone and the shred is not indexed (a rebuild cannot read it).
    read(records, [amy], SENDCO_OAK, date(2025, 6, 2), "record", "Last look")
    following.catch_up()
    records.shred(amy.id)
    following.catch_up()
    assert access_log(records, pupil=amy.id) == []
    with records.datastore.transaction(commit=False) as session:
        table = AccessLogIndex.tables[1]
        assert session.execute(select(table).where(table.c.pupil_id == amy.id)).all() == []
        marker = AccessLogIndex.tables[0]
        assert session.execute(select(marker.c.academy, marker.c.purged).where(
            marker.c.pupil_id == amy.id
        )).all() == [(None, True)]  # fmt: skip
    assert len(access_log(records)) == 3  # the others' reads are untouched
    incremental = snapshot(records)
    following.rebuild(["access_log"])
    assert snapshot(records) == incremental


def test_rebuilt_equals_incremental_in_small_batches(
    records: PupilRecords, school: dict[str, Pupil]
) -> None:
    following = runner(records)
    cal = school["cal"]
    for n in range(5):
        read(records, [cal, school["bea"]], TEACHER_OAK, date(2025, 4, 1 + n), "record", f"n{n}")
    purge(records, school["bea"].id, date(2025, 5, 1))
    assert following.catch_up(batch=3) > 0
    incremental = snapshot(records)
    assert incremental["access_log"]
    following.rebuild(["access_log"])
    assert snapshot(records) == incremental


def test_no_plaintext_purpose_or_names_in_the_tables(
    records: PupilRecords, school: dict[str, Pupil], store: Store
) -> None:
    dump = "\n".join(v for rows in snapshot(records).values() for row in rows for v in row)
    secrets = [PURPOSE, "Pemberton", "Weekly register check", "Transfer file review"]
    secrets += ["Lesson planning", "kind=ConcernRaised", "Ashdown", "Brackenridge", "Amy"]
    assert [s for s in secrets if s in dump] == []
    assert "chronology" in dump and "OAK-sendco-1" in dump  # codes and ids are there
    if store.sqlite_path is not None:  # the file itself, WAL included
        raw = b"".join(
            Path(f"{store.sqlite_path}{suffix}").read_bytes()
            for suffix in ("", "-wal")
            if Path(f"{store.sqlite_path}{suffix}").exists()
        )
        assert PURPOSE.encode() not in raw and b"Lesson planning" not in raw


def test_what_is_kept_only_as_a_plain_code() -> None:
    assert what_code("chronology?kind=ConcernRaised&since=2025-01-01") == "chronology"
    assert what_code("register") == "register"
    assert what_code("Amy's file, printed for the meeting") == OTHER
    assert what_code("x" * 40) == OTHER
    assert access_stream_id(UUID(int=1)) != UUID(int=1)


# ----- the CLI ----------------------------------------------------------------------------


def cli(home: Path, db: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICLE_")}
    environ |= {"CHRONICLE_HOME": str(home), "COLUMNS": "220"}
    if db:
        environ["CHRONICLE_DATABASE_URL"] = db
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "access-log", *args],
        env=environ,
        capture_output=True,
        text=True,
    )


def test_the_access_log_verb(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    home, db = tmp_path / "home", None if store.kind == "sqlite" else store.url
    for name in [k for k in os.environ if k.startswith("CHRONICLE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CHRONICLE_HOME", str(home))
    if db:
        monkeypatch.setenv("CHRONICLE_DATABASE_URL", db)
    init_home(load_settings())
    with closing(open_home_records(load_settings())) as records:
        amy = a_pupil("Amy", "Ashdown", academy="OAK", concerns=1)
        cal = a_pupil("Cal", "Cunningham", academy="RIV", concerns=1)
        records.save(amy, cal)
        read(records, [amy, cal], SENDCO_OAK, date(2025, 3, 3), "register", "Register check")
        read(records, [amy], DSL_RIV, date(2025, 3, 9), "chronology?kind=PlanAgreed", PURPOSE)
    every = cli(home, db, "--json")
    assert every.returncode == 0, every.stderr
    rows = json.loads(every.stdout)
    assert sorted((r["pupil_id"], r["staff_id"], r["read_on"]) for r in rows[:2]) == sorted(
        [(str(amy.id), "OAK-sendco-1", "2025-03-03"), (str(cal.id), "OAK-sendco-1", "2025-03-03")]
    )
    assert (rows[2]["pupil_id"], rows[2]["staff_id"]) == (str(amy.id), "RIV-dsl-1")
    assert rows[2]["purpose"] == PURPOSE and rows[2]["detail"] == "chronology?kind=PlanAgreed"
    by_upn = json.loads(cli(home, db, "--pupil", amy.upn, "--since", "2025-03-04", "--json").stdout)
    assert [r["seq"] for r in by_upn] == [rows[2]["seq"]]
    by_staff = json.loads(cli(home, db, "--staff", "OAK-sendco-1", "--json").stdout)
    assert len(by_staff) == 2
    assert json.loads(cli(home, db, "--until", "2025-03-02", "--json").stdout) == []
    riv = json.loads(cli(home, db, "--academy", "RIV", "--json").stdout)
    assert [r["pupil_id"] for r in riv] == [str(cal.id)]
    text = cli(home, db, "--pupil", str(amy.id)).stdout
    assert str(amy.id) in text and PURPOSE[:40] in text and "3 reads" not in text
    assert "Amy Ashdown" not in text  # who read whom, not the pupil's name
    assert "2 reads" in text
    bad_date = cli(home, db, "--since", "03/03/2025")
    assert bad_date.returncode == 2
    unknown = cli(home, db, "--pupil", "A123456789012")
    backwards = cli(home, db, "--since", "2025-03-09", "--until", "2025-03-01")
    for refused in (unknown, backwards):
        assert refused.returncode == 1 and refused.stderr.startswith("error:"), refused.stderr
        assert "Traceback" not in refused.stderr
