"""The runner and the core read models (register, census, retention) on SQLite and
PostgreSQL: rebuilt equals incremental for random histories, restarts and crashes, gaps in
notification ids, purges, no plaintext in any projection table, the queries, and the CLI."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid, insert, select
from sqlalchemy.orm import Session

from api.application import ConflictingUpdate, PupilRecords
from api.bootstrap import init_home
from api.bootstrap import open_records as open_home_records
from api.demo import generate
from api.demo.world import ACADEMIES
from api.settings import load_settings
from crypto.errors import KeyShredded
from domain import values
from domain.pupil import Pupil
from domain.values import NeedType, Recorder, RegisterStatus, Role, SubFlag
from projections.base import ProjectedEvent, Projection
from projections.catalogue import build_projections
from projections.census import CensusReader
from projections.core_models import core_projections
from projections.register import RegisterFilter, RegisterQueryError, RegisterReader
from projections.retention_schedule import RetentionReader
from projections.runner import ProjectionError, ProjectionRunner
from tests.conftest import OpenRecords, Store
from tests.factories import (
    DEFAULT,
    DPO,
    REGISTERED,
    WEIGHTED_STEPS,
    a_full_history,
    a_pupil,
    add_concern,
    move,
    on,
    play,
    primary_need,
)
from tests.sql import raw

# ----- helpers ----------------------------------------------------------------------------


def core(records: PupilRecords) -> ProjectionRunner:
    return ProjectionRunner(records, core_projections(records.policy))


def tables_of(projections: Sequence[Projection]) -> list[Table]:
    return [t for p in projections for t in p.tables]


def snapshot(records: PupilRecords, projections: Sequence[Projection] | None = None) -> Any:
    """Every row of the projections' tables, in a stable order."""
    chosen = core_projections(records.policy) if projections is None else projections
    with records.datastore.transaction(commit=False) as session:
        return {
            t.name: sorted(tuple(str(v) for v in row) for row in session.execute(select(t)))
            for t in tables_of(chosen)
        }


def rows_of(records: PupilRecords, pupil_id: UUID) -> dict[str, int]:
    with records.datastore.transaction(commit=False) as session:
        return {
            t.name: len(session.execute(select(t).where(t.c.pupil_id == pupil_id)).all())
            for t in tables_of(core_projections(records.policy))
        }


def pupil(
    given: str,
    family: str,
    *,
    academy: str = "OAK",
    born: date = date(2015, 5, 17),
    preferred: str | None = None,
) -> Pupil:
    made = a_pupil(given, family, academy=academy, concerns=0)
    if born != date(2015, 5, 17) or preferred:
        made = Pupil.register(
            upn=made.upn,
            legal_given_names=given,
            legal_family_name=family,
            preferred_name=preferred,
            date_of_birth=born,
            academy=academy,
            year_group=4,
            **on(REGISTERED),
        )
    return made


def to_support(p: Pupil, day: date, need: NeedType = NeedType.SLCN) -> None:
    primary_need(p, day, need)
    move(p, day + timedelta(days=1), RegisterStatus.SEN_SUPPORT)


def purge(records: PupilRecords, pupil_id: UUID, day: date = date(2025, 6, 2)) -> None:
    loaded = records.get_pupil(pupil_id)
    loaded.record_purge(proposed_by="dpo-1", approved_by="dpo-2", reason="test", **on(day, DPO))
    records.save(loaded)
    records.shred(pupil_id)


# ----- rebuilt equals incremental -----------------------------------------------------------

# The factories' mix, plus the entries the core read models consume, so that histories
# reach SEN support and EHC plans, transfers, holds and purges, not only concerns.
_FOCUS = {"need": 8, "status": 12, "withdraw": 2, "transfer": 3, "legal_hold": 4, "sign": 3}
_FOCUS |= {"involve": 3, "request": 4, "la_request": 2, "issue": 5, "cease": 2, "purge": 3}
STEPS = [*WEIGHTED_STEPS, *(name for name, weight in _FOCUS.items() for _ in range(weight))]
step = st.tuples(st.sampled_from(STEPS), st.integers(0, 2**16), st.integers(0, 40))
# Openings that the random steps reach only rarely (numbers chosen for the factories' steps):
# a primary need, then SEN support; or a plan transferred in, then an EHC plan (E).
SUPPORT = [("need", 192, 1), ("status", 257, 1)]
EHCP = [("need", 193, 1), ("issue", 0, 1), ("status", 513, 1)]
history = st.builds(
    lambda opening, rest: [*opening, *rest],
    st.sampled_from([[], SUPPORT, EHCP]),
    st.lists(step, max_size=30),
)
pupil_plan = st.tuples(history, st.integers(1, 3), st.booleans())


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plans=st.lists(pupil_plan, min_size=1, max_size=4), batch=st.integers(1, 40))
def test_rebuilt_equals_incremental_for_random_histories(
    records: PupilRecords, plans: list[tuple[list[Any], int, bool]], batch: int
) -> None:
    """Histories written in rounds, interleaved across pupils, caught up between rounds in
    small batches; purged pupils are shredded, so the rebuild reads their entries as
    unreadable where the incremental run read them in the clear."""
    runner = core(records)
    runner.catch_up(batch)  # earlier examples' events: start from an up-to-date state
    pupils = [a_pupil(f"P{n}", concerns=0) for n in range(len(plans))]
    records.save(*pupils)
    for round_ in range(3):
        for p, (history, rounds, _) in zip(pupils, plans, strict=True):
            if round_ >= rounds or purged(records, p.id):
                continue
            part = history[round_ * len(history) // rounds : (round_ + 1) * len(history) // rounds]
            loaded = records.get_pupil(p.id)
            play(loaded, DEFAULT, part)
            records.save(loaded)
        runner.catch_up(batch)
    for p, (_, _, shred) in zip(pupils, plans, strict=True):
        if shred and purged(records, p.id):
            records.shred(p.id)
    runner.catch_up(batch)
    incremental = snapshot(records)
    assert runner.rebuild() > 0
    assert snapshot(records) == incremental
    assert all(s.lag == 0 for s in runner.status())


def purged(records: PupilRecords, pupil_id: UUID) -> bool:
    return _type(records.stored_events(pupil_id)[-1].topic) == "RecordsPurged"


# ----- restarts and crashes ---------------------------------------------------------------


class Crashing:
    """Wraps a projection and fails after `after` events: a crash inside a batch."""

    def __init__(self, inner: Any, after: int) -> None:
        self.inner, self.left = inner, after
        self.name, self.tables, self.event_types = inner.name, inner.tables, None

    def apply(self, session: Session, event: ProjectedEvent) -> None:
        if self.left == 0:
            raise RuntimeError("power cut")
        self.left -= 1
        self.inner.apply(session, event)


def test_a_crash_mid_batch_neither_skips_nor_double_applies(open_records: OpenRecords) -> None:
    records = open_records()
    records.save(*[a_full_history() for _ in range(2)], *[a_pupil(concerns=3) for _ in range(3)])
    total = len(raw_ids(records))
    crashing = [Crashing(p, after=23) for p in core_projections(records.policy)]
    with pytest.raises(RuntimeError, match="power cut"):
        ProjectionRunner(records, crashing).catch_up(batch=10)
    # Progress survives: a new process starts where the last committed batch ended.
    restarted = ProjectionRunner(open_records(), core_projections(records.policy))
    assert {s.position for s in restarted.status()} == {raw_ids(records)[19]}
    assert restarted.catch_up(batch=7) == total - 20
    incremental = snapshot(records)
    restarted.rebuild()
    assert snapshot(records) == incremental


def test_restart_mid_stream_with_new_events_equals_a_clean_rebuild(
    open_records: OpenRecords,
) -> None:
    first = open_records()
    early = [a_full_history(), a_pupil("Early", concerns=4)]
    first.save(*early)
    assert core(first).catch_up(batch=5) == len(raw_ids(first))
    first.close()
    later = open_records()  # another process, later
    more = later.get_pupil(early[1].id)
    to_support(more, date(2025, 2, 3))
    later.save(more, a_pupil("Late", concerns=2))
    runner = core(later)
    assert [s.lag for s in runner.status()] == [5, 5]
    assert runner.catch_up() == 5
    incremental = snapshot(later)
    runner.rebuild()
    assert snapshot(later) == incremental


def test_two_runners_at_once_apply_each_event_once(open_records: OpenRecords) -> None:
    records = open_records()
    records.save(*[a_full_history() for _ in range(3)], *[a_pupil(concerns=5) for _ in range(6)])
    others = [open_records() for _ in range(2)]
    runners = [core(r) for r in others]
    errors: list[BaseException] = []

    def run(runner: ProjectionRunner) -> None:
        try:
            runner.catch_up(batch=3)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    incremental = snapshot(records)
    core(records).rebuild()
    assert snapshot(records) == incremental


# ----- the runner's contract --------------------------------------------------------------

seen = Table(
    "test_seen_events",
    MetaData(),
    Column("notification_id", Integer, primary_key=True, autoincrement=False),
    Column("pupil_id", Uuid, nullable=False),
    Column("type", String(40), nullable=False),
    Column("readable", Integer, nullable=False),
)


class Recording:
    """Records every event it is fed (its primary key refuses a second delivery)."""

    def __init__(self, name: str, kinds: frozenset[str] | None) -> None:
        self.name, self.event_types, self.tables = name, kinds, (seen,)

    def apply(self, session: Session, event: ProjectedEvent) -> None:
        session.execute(
            insert(seen).values(
                notification_id=event.notification_id,
                pupil_id=event.pupil_id,
                type=event.type,
                readable=int(event.payload is not None),
            )
        )


def test_each_event_is_decrypted_once_and_fed_only_to_its_consumers(
    records: PupilRecords, monkeypatch: pytest.MonkeyPatch
) -> None:
    records.save(a_full_history(), a_pupil(concerns=2))
    opened: list[int] = []
    committed = records.sealing_mapper.committed

    def counting(stored: Any) -> Any:
        opened.append(stored.originator_version)
        return committed(stored)

    monkeypatch.setattr(records.sealing_mapper, "committed", counting)
    recording = Recording("recording", frozenset({"ConcernRaised", "RecordsPurged"}))
    runner = ProjectionRunner(records, [*core_projections(records.policy), recording])
    runner.catch_up()
    with records.datastore.transaction(commit=False) as session:
        fed = session.execute(select(seen.c.type)).scalars().all()
    kinds = [e.topic for x in pupil_ids(records) for e in records.stored_events(x)]
    wanted = {"ConcernRaised", "RecordsPurged"} | {
        k for p in core_projections(records.policy) for k in p.event_types or ()
    }
    assert sorted(fed) == sorted(k for k in map(_type, kinds) if k in recording.event_types)
    assert len(opened) == sum(1 for k in map(_type, kinds) if k in wanted)


def test_shredded_pupils_events_arrive_unreadable_and_their_tombstone_readable(
    records: PupilRecords,
) -> None:
    victim = a_full_history()  # ends with RecordsPurged
    records.save(victim, a_pupil())
    records.shred(victim.id)
    runner = ProjectionRunner(records, [Recording("recording", None)])
    runner.catch_up()
    with records.datastore.transaction(commit=False) as session:
        rows = session.execute(
            select(seen.c.type, seen.c.readable).where(seen.c.pupil_id == victim.id)
        ).all()
    assert len(rows) == victim.version
    assert {t for t, readable in rows if readable} == {"RecordsPurged"}


def test_notification_id_gaps_are_tolerated(store: Store, open_records: OpenRecords) -> None:
    records = open_records()
    early = a_pupil("Gap", concerns=2)
    records.save(early)
    runner = core(records)
    runner.catch_up()
    _make_gap(store, open_records, records, early.id)
    records.save(a_pupil("After", concerns=3))
    ids = raw_ids(records)
    assert any(b - a > 1 for a, b in itertools.pairwise(ids)), ids
    assert [s.lag for s in runner.status()] == [5, 5]  # events, not the difference of ids
    assert runner.catch_up() == 5
    assert [(s.position, s.head, s.lag) for s in runner.status()] == [(ids[-1], ids[-1], 0)] * 2
    assert len(RegisterReader(records).page().rows) == 2
    incremental = snapshot(records)
    assert runner.rebuild() == len(ids)
    assert snapshot(records) == incremental


def _make_gap(
    store: Store, open_records: OpenRecords, records: PupilRecords, pupil_id: UUID
) -> None:
    """PostgreSQL: a rolled-back conflicting save uses up ids. SQLite reuses rolled-back
    ids, so there the later ids are moved on instead (as a restore of a gappy log would)."""
    if store.kind == "postgresql":
        other = open_records()
        mine, theirs = records.get_pupil(pupil_id), other.get_pupil(pupil_id)
        add_concern(mine, "first")
        add_concern(theirs, "second")
        records.save(mine)
        with pytest.raises(ConflictingUpdate):
            other.save(theirs)
        return
    loaded = records.get_pupil(pupil_id)
    add_concern(loaded, "first")
    records.save(loaded)
    last = raw_ids(records)[-1]
    raw(store, "UPDATE chronicle_events SET id = id + 1000 WHERE id = :i", i=last)


def test_rebuild_by_name_resets_only_that_projection(records: PupilRecords) -> None:
    records.save(a_full_history(), a_pupil())
    recording = Recording("recording", None)
    runner = ProjectionRunner(records, [*core_projections(records.policy), recording])
    runner.catch_up()
    before = snapshot(records)
    progress: list[tuple[int, int]] = []
    total = len(raw_ids(records))
    assert runner.rebuild(["send_register"], lambda d, t: progress.append((d, t))) == total
    assert progress[0] == (0, total) and progress[-1] == (total, total)
    assert snapshot(records) == before
    assert len({s.position for s in runner.status()}) == 1  # recording was left alone
    with pytest.raises(ProjectionError, match="unknown projection 'nope'; known: send_register"):
        runner.rebuild(["nope"])


def test_bad_projection_sets_are_refused_clearly(records: PupilRecords) -> None:
    with pytest.raises(ProjectionError, match="1 to 32 characters"):
        ProjectionRunner(records, [Recording("x" * 33, None)])
    with pytest.raises(ProjectionError, match="two projections are named 'twice'"):
        ProjectionRunner(records, [Recording("twice", None), Recording("twice", None)])
    with pytest.raises(ProjectionError, match="batch must be at least 1"):
        core(records).catch_up(batch=0)


def test_tables_of_an_older_version_must_be_rebuilt_first(records: PupilRecords) -> None:
    old = Table("retention_holds", MetaData(), Column("pupil_id", Uuid, primary_key=True))
    old.create(records.datastore.engine)
    records.save(a_pupil())
    runner = core(records)
    with pytest.raises(ProjectionError, match="retention_schedule were made by another version"):
        runner.catch_up()
    with pytest.raises(ProjectionError, match="retention_schedule were made by another version"):
        runner.wait_for(records.written_to, ["retention_schedule"])  # a read of it: the same
    assert runner.rebuild(["retention_schedule"]) == 2
    assert runner.catch_up() == 2  # the register had not been fed yet
    assert len(RetentionReader(records).schedule()) == 1
    assert len(RegisterReader(records).page().rows) == 1


# ----- purges -----------------------------------------------------------------------------


def test_records_purged_removes_the_pupil_and_leaves_the_purge_date(
    records: PupilRecords,
) -> None:
    victim, other = pupil("Victim", "Pupil"), pupil("Other", "Pupil")
    to_support(victim, date(2024, 10, 1))
    victim.place_legal_hold(reason="Claim", requested_by="Solicitor", **on(date(2024, 11, 1)))
    records.save(victim, other)
    runner = core(records)
    runner.catch_up()
    assert rows_of(records, victim.id) == {
        "register_history": 3,
        "register_pupils": 1,
        "register_needs": 1,
        "retention_pupils": 1,
        "retention_holds": 1,
    }
    loaded = records.get_pupil(victim.id)
    (hold,) = loaded.holds
    loaded.lift_legal_hold(hold_id=hold, reason="Settled", **on(date(2025, 1, 2), DPO))
    records.save(loaded)
    purge(records, victim.id, date(2025, 6, 2))
    runner.catch_up()
    gone = dict.fromkeys(["register_history", "register_pupils", "register_needs"], 0)
    assert rows_of(records, victim.id) == gone | {"retention_pupils": 1, "retention_holds": 0}
    (tombstone,) = RetentionReader(records).purged()
    assert (tombstone.pupil_id, tombstone.purged_on, tombstone.due_on) == (
        victim.id,
        date(2025, 6, 2),
        None,
    )
    assert [r.pupil_id for r in RegisterReader(records).page().rows] == [other.id]
    incremental = snapshot(records)
    runner.rebuild()  # the victim's entries are unreadable now: same result
    assert snapshot(records) == incremental


def test_a_pupil_shredded_without_a_tombstone_shows_no_name(records: PupilRecords) -> None:
    shredded = pupil("Shredded", "Pupil")
    records.save(shredded)
    core(records).catch_up()
    records.shred(shredded.id)
    (row,) = RegisterReader(records).page().rows
    assert (row.pupil_id, row.name, row.upn) == (shredded.id, None, None)
    with pytest.raises(KeyShredded):
        records.sealing_mapper.committed(records.stored_events(shredded.id)[0])


# ----- no plaintext -----------------------------------------------------------------------

# Payload fields that hold identifiers and codes (allowed in projection tables), not text.
_ID_FIELDS = {
    "academy", "to_academy", "from_academy", "staff_id", "role", "decided_by",
    "decision_maker", "cpoms_log_id", "plan_reference", "local_authority", "export_digest",
    "proposed_by", "approved_by", "source_id", "key_worker",
}  # fmt: skip


def test_no_plaintext_in_any_projection_table_after_the_demo(
    records: PupilRecords, store: Store
) -> None:
    generate(records, 30)
    projections = build_projections(records.policy)
    ProjectionRunner(records, projections).catch_up()
    # The trust's academies are public, listed by name (api/academies.py), and a pupil's
    # move between them names one: no needle.
    needles = _personal_values(records) - {a.name for a in ACADEMIES}
    assert len(needles) > 100  # names, UPNs and free text of 30 pupils
    tables = tables_of(projections)
    contents = _table_contents(records, tables)
    assert contents["register_pupils"] and contents["retention_pupils"]
    cells = {str(v) for rows in contents.values() for row in rows for v in row}
    words = {w for cell in cells for w in re.split(r"[^0-9A-Za-z]+", cell)}
    dumped = "\n".join(cells)
    # Long values anywhere inside a cell; short ones (a name like "Ali") as a whole word.
    found = sorted(n for n in needles if (n in dumped if len(n) >= 6 else n in words | cells))
    assert found == [], found
    stored = _stored_bytes(store, tables)
    # Raw bytes hold ciphertext too, where a short string may occur by chance.
    long_found = sorted(n for n in needles if len(n) >= 8 and n.encode() in stored)
    assert long_found == [], long_found


def _personal_values(records: PupilRecords) -> set[str]:
    values: set[str] = set()
    for pupil_id in pupil_ids(records):
        try:
            entries = records.entries(pupil_id)
        except Exception:  # purged pupils: nothing readable to look for
            continue
        for entry in entries:
            if entry.type != "RecordsPurged":  # stored in the clear by design
                _texts(entry.payload, values)
    return values


def _texts(value: Any, into: set[str], key: str = "") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _texts(v, into, k)
    elif isinstance(value, list):
        for v in value:
            _texts(v, into, key)
    elif isinstance(value, str) and key not in _ID_FIELDS and len(value) >= 3:
        into.update([value] if not _is_code(value) else [])


def _is_code(value: str) -> bool:
    if value in _ENUM_VALUES:
        return True
    try:
        UUID(value)
        return True
    except ValueError:
        pass
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    except ValueError:
        pass
    return False


_ENUM_VALUES = {
    str(member.value)
    for enum in vars(values).values()
    if isinstance(enum, type) and issubclass(enum, StrEnum)
    for member in enum
}


def _table_contents(records: PupilRecords, tables: list[Table]) -> dict[str, list[Any]]:
    with records.datastore.transaction(commit=False) as session:
        return {t.name: [tuple(r) for r in session.execute(select(t))] for t in tables}


def _stored_bytes(store: Store, tables: list[Table]) -> bytes:
    if store.sqlite_path is not None:
        files = [Path(f"{store.sqlite_path}{suffix}") for suffix in ("", "-wal", "-shm")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    assert store.database and store.schema
    url = store.database.replace("postgresql+psycopg2://", "postgresql://")
    names = [arg for t in tables for arg in ("--table", f"{store.schema}.{t.name}")]
    dump = subprocess.run(
        ["pg_dump", "--data-only", *names, "--dbname", url], capture_output=True, check=True
    )
    assert b"COPY" in dump.stdout and b"register_pupils" in dump.stdout
    return dump.stdout


# ----- the register -----------------------------------------------------------------------


@pytest.fixture
def register(records: PupilRecords) -> dict[str, Pupil]:
    """Six pupils across two academies at every stage, with known names and dates."""
    made = {
        "ada": pupil("Ada", "Zephyr"),
        "ben": pupil("Benedict", "Abbott", preferred="Ben"),
        "cara": pupil("Cara", "Mills"),
        "dev": pupil("Dev", "Mills", academy="RIV"),
        "eve": pupil("Eve", "Okoro", academy="RIV"),
        "fin": pupil("Fin", "Quill"),
    }
    to_support(made["ada"], date(2024, 10, 1), NeedType.ASD)
    made["ada"].record_need(need=NeedType.SEMH, primary=False, notes="", **on(date(2024, 10, 3)))
    to_support(made["ben"], date(2024, 9, 20), NeedType.SLCN)
    move(made["ben"], date(2024, 11, 4), RegisterStatus.SEN_SUPPORT, flags=(SubFlag.NSA,))
    move(made["cara"], date(2024, 9, 30), RegisterStatus.MONITORING)
    to_support(made["dev"], date(2024, 9, 10), NeedType.SEMH)
    made["fin"].transfer_within_trust(to_academy="RIV", reason="Moved", **on(date(2025, 1, 6)))
    records.save(*made.values())
    core(records).catch_up()
    return made


def ids(page: Any) -> list[UUID]:
    return [r.pupil_id for r in page.rows]


def test_register_rows_say_status_needs_since_and_key_worker(
    records: PupilRecords, register: dict[str, Pupil]
) -> None:
    reader = RegisterReader(records)
    ben = reader.pupil(register["ben"].id)
    assert ben is not None
    assert (ben.name, ben.upn, ben.academy) == ("Ben Abbott", register["ben"].upn, "OAK")
    assert (ben.status, ben.census_code, ben.sub_flags) == ("sen_support", "K", ("nsa",))
    assert ben.since == date(2024, 9, 21)  # the sub-flag change on 4 November kept it
    assert (ben.primary_need, ben.secondary_needs, ben.key_worker) == ("SLCN", (), "OAK-sendco-1")
    ada = reader.pupil(register["ada"].id)
    assert ada is not None and (ada.primary_need, ada.secondary_needs) == ("ASD", ("SEMH",))
    assert ada.as_json()["secondary_needs"] == ["SEMH"] and ada.as_json()["since"] == "2024-10-02"
    assert reader.pupil(uuid4()) is None


def test_register_filters(records: PupilRecords, register: dict[str, Pupil]) -> None:
    reader = RegisterReader(records)
    p = {k: v.id for k, v in register.items()}

    def where(**kw: Any) -> set[UUID]:
        return set(ids(reader.page(RegisterFilter(**kw))))

    assert where(academy="OAK") == {p["ada"], p["ben"], p["cara"]}
    assert where(academy="RIV") == {p["dev"], p["eve"], p["fin"]}  # Fin transferred
    assert where(status="sen_support") == {p["ada"], p["ben"], p["dev"]}
    assert where(status="monitoring", academy="OAK") == {p["cara"]}
    assert where(census_code="N") == {p["cara"], p["eve"], p["fin"]}
    assert where(need="SEMH") == {p["ada"], p["dev"]}  # secondary and primary
    assert where(need="SEMH", academy="RIV") == {p["dev"]}
    assert where(academy="NOWHERE") == set()
    assert reader.academies() == ["OAK", "RIV"]


def test_register_sorting_and_pages(records: PupilRecords, register: dict[str, Pupil]) -> None:
    reader = RegisterReader(records)
    p = {k: v.id for k, v in register.items()}
    by_name = reader.page(sort="name")
    assert [r.name for r in by_name.rows] == [
        "Ben Abbott", "Cara Mills", "Dev Mills", "Eve Okoro", "Fin Quill", "Ada Zephyr",
    ]  # fmt: skip
    assert by_name.total == 6
    # Most support first (K before monitoring before none), oldest first within each; Eve
    # and Fin have been "none" since the same day, so their ids break the tie.
    by_status = ids(reader.page(sort="status"))
    assert by_status[:4] == [p["dev"], p["ben"], p["ada"], p["cara"]]
    assert by_status[4:] == sorted([p["eve"], p["fin"]], key=str)
    since = [r.since for r in reader.page(sort="since").rows]
    assert since == sorted(since)
    page = reader.page(sort="name", limit=2, offset=2)
    assert ([r.name for r in page.rows], page.total) == (["Dev Mills", "Eve Okoro"], 6)
    page = reader.page(RegisterFilter(academy="OAK"), sort="status", limit=1, offset=1)
    assert (ids(page), page.total) == ([p["ada"]], 3)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"where": RegisterFilter(status="senn")}, "unknown status 'senn'; expected one of"),
        ({"where": RegisterFilter(need="XYZ")}, "unknown need 'XYZ'"),
        ({"where": RegisterFilter(census_code="Q")}, "unknown census code 'Q'"),
        ({"sort": "age"}, "unknown sort 'age'; expected one of: name, status, since"),
        ({"limit": 0}, "limit must be at least 1"),
        ({"offset": -1}, "offset cannot be negative"),
    ],
)
def test_register_refuses_bad_queries(
    records: PupilRecords, kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(RegisterQueryError, match=message):
        RegisterReader(records).page(**kw)


def test_leavers_leave_the_register_unless_asked_for(records: PupilRecords) -> None:
    leaver = pupil("Lee", "Vern")
    leaver.leave_trust(
        policy=DEFAULT,
        destination="Westmoor Academy",
        records_sent_on=date(2025, 3, 3),
        receipt_acknowledged_on=None,
        receipt_acknowledged_by=None,
        **on(date(2025, 3, 3)),
    )
    records.save(leaver)
    core(records).catch_up()
    reader = RegisterReader(records)
    assert reader.page().rows == []
    (row,) = reader.page(RegisterFilter(include_left=True)).rows
    assert (row.academy, row.left_on, row.name) == (None, date(2025, 3, 3), "Lee Vern")


# ----- census -----------------------------------------------------------------------------


def test_census_counts_today_and_as_of_a_date(
    records: PupilRecords, register: dict[str, Pupil]
) -> None:
    census = CensusReader(records)
    today = {r.academy: r.as_json() for r in census.by_academy()}
    assert today == {
        "OAK": {"academy": "OAK", "N": 1, "K": 2, "E": 0,
                "primary_need": {"ASD": {"K": 1, "E": 0}, "SLCN": {"K": 1, "E": 0}}},
        "RIV": {"academy": "RIV", "N": 2, "K": 1, "E": 0,
                "primary_need": {"SEMH": {"K": 1, "E": 0}}},
    }  # fmt: skip
    # On 15 September 2024 only Dev was on SEN support, and Fin was still at OAK.
    early = {r.academy: r.totals for r in census.by_academy(date(2024, 9, 15))}
    assert early == {"OAK": {"N": 4, "K": 0, "E": 0}, "RIV": {"N": 1, "K": 1, "E": 0}}
    assert census.counts(date(2024, 9, 1)) == []  # before anyone was registered
    october = {r.academy: r.totals for r in census.by_academy(date(2024, 10, 1))}
    assert october == {"OAK": {"N": 3, "K": 1, "E": 0}, "RIV": {"N": 1, "K": 1, "E": 0}}


def test_a_back_dated_entry_counts_from_the_day_it_happened(records: PupilRecords) -> None:
    late = pupil("Late", "Entry")
    primary_need(late, date(2024, 11, 1), NeedType.MLD)
    late.change_register_status(
        policy=DEFAULT,
        status=RegisterStatus.SEN_SUPPORT,
        sub_flags=(),
        reason="Agreed in December; typed up in February",
        decision_maker="OAK-sendco-1",
        parents_informed_on=date(2024, 12, 2),
        recorded_by=Recorder("OAK-sendco-1", Role.SENDCO),
        happened_on=date(2024, 12, 2),
        recorded_at=datetime.combine(date(2025, 2, 1), time(9), tzinfo=UTC),
    )
    records.save(late)
    core(records).catch_up()
    census = CensusReader(records)
    assert census.by_academy(date(2024, 11, 15))[0].totals == {"N": 1, "K": 0, "E": 0}
    (january,) = census.by_academy(date(2025, 1, 16))  # census day, before it was recorded
    assert (january.totals, january.by_need) == (
        {"N": 0, "K": 1, "E": 0},
        {"MLD": {"K": 1, "E": 0}},
    )
    assert census.by_academy() == [january]


# ----- retention --------------------------------------------------------------------------


def test_retention_due_leaves_out_held_and_purged_pupils(records: PupilRecords) -> None:
    old = pupil("Old", "One", born=date(1993, 3, 1))  # DOB + 31: 2024-03-01
    held = pupil("Held", "One", born=date(1993, 6, 1))  # 2024-06-01, held
    young = pupil("Young", "One", born=date(2015, 5, 17))  # 2046-05-17
    gone = pupil("Gone", "One", born=date(1992, 1, 1))
    hold = held.place_legal_hold(reason="Claim", requested_by="Solicitor", **on(REGISTERED, DPO))
    records.save(old, held, young, gone)
    purge(records, gone.id, date(2025, 1, 10))
    runner = core(records)
    runner.catch_up()
    reader = RetentionReader(records)
    assert [e.pupil_id for e in reader.due(date(2025, 1, 1))] == [old.id]
    assert reader.due(date(2024, 2, 29)) == []
    (h,) = reader.held()
    assert (h.pupil_id, [x.hold_id for x in h.holds], h.due_on) == (
        held.id,
        [hold],
        date(2024, 6, 30),  # the end of the month retention ends: never the birthday
    )
    assert [e.pupil_id for e in reader.schedule()] == [old.id, held.id, young.id]
    (p,) = reader.purged()
    assert (p.pupil_id, p.purged_on, p.due_on, p.holds) == (gone.id, date(2025, 1, 10), None, ())
    loaded = records.get_pupil(held.id)
    loaded.lift_legal_hold(hold_id=hold, reason="Settled", **on(date(2025, 2, 1), DPO))
    records.save(loaded)
    runner.catch_up()
    assert [e.pupil_id for e in reader.due(date(2025, 3, 1))] == [old.id, held.id]
    assert reader.entry(held.id) is not None and reader.entry(uuid4()) is None
    assert reader.entry(old.id).as_json() == {  # type: ignore[union-attr]
        "pupil_id": str(old.id), "due_on": "2024-03-31", "sen_file_due_on": "2024-03-31",
        "child_protection_due_on": None, "governed_by": "sen_file", "holds": [],
        "purged_on": None,
    }  # fmt: skip


def test_a_cross_referenced_record_shows_both_dates_and_the_later_governs(
    records: PupilRecords,
) -> None:
    plain = pupil("Plain", "One", born=date(2012, 2, 29))
    referenced = pupil("Referenced", "One", born=date(2012, 2, 29))
    records.save(plain, referenced)
    runner = core(records)
    runner.catch_up()
    loaded = records.get_pupil(referenced.id)
    loaded.cross_reference_safeguarding(
        policy=records.policy,
        cpoms_log_id="CP-00042",
        note="Logged in CPOMS",
        dsl_decision=values.DslDecision.EARLY_HELP,
        decided_by="OAK-dsl-1",
        **on(date(2025, 1, 10)),
    )
    records.save(loaded)
    runner.catch_up()
    reader = RetentionReader(records)
    cp, sen = reader.entry(referenced.id), reader.entry(plain.id)
    assert cp is not None and sen is not None
    # DOB + 31 for the SEN file, DOB + 25 for child protection: the SEN file governs.
    assert (cp.sen_file_due_on, cp.child_protection_due_on, cp.due_on, cp.governed_by) == (
        date(2043, 2, 28),
        date(2037, 2, 28),
        date(2043, 2, 28),
        "sen_file",
    )
    assert (sen.child_protection_due_on, sen.due_on) == (None, date(2043, 2, 28))
    assert reader.due(date(2040, 1, 1)) == []  # the child protection date alone purges nothing
    incremental = snapshot(records)
    runner.rebuild()
    assert snapshot(records) == incremental
    # A trust that keeps child protection records longer: that date governs.
    periods = {"child_protection_years": 45}
    retention = records.policy.retention.model_copy(update=periods)
    records.policy = records.policy.model_copy(update={"retention": retention})
    core(records).rebuild()
    longer = reader.entry(referenced.id)
    assert longer is not None
    assert (longer.child_protection_due_on, longer.due_on, longer.governed_by) == (
        date(2057, 2, 28),
        date(2057, 2, 28),
        "child_protection",
    )
    assert [e.pupil_id for e in reader.due(date(2050, 1, 1))] == [plain.id]


# ----- the CLI ----------------------------------------------------------------------------


def cli(home: Path, *args: str, db: str | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICLE_")}
    environ |= {"CHRONICLE_HOME": str(home), "COLUMNS": "200"}
    if db:
        environ["CHRONICLE_DATABASE_URL"] = db
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "projections", *args],
        env=environ,
        capture_output=True,
        text=True,
    )


def test_cli_rebuild_status_register_and_census(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, db = tmp_path / "home", None if store.kind == "sqlite" else store.url
    for name in [k for k in os.environ if k.startswith("CHRONICLE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CHRONICLE_HOME", str(home))
    if db:
        monkeypatch.setenv("CHRONICLE_DATABASE_URL", db)
    init_home(load_settings())  # set up in-process; the verbs under test run as commands
    with closing(open_home_records(load_settings())) as records:
        generate(records, 12)
    rebuilt = cli(home, "rebuild", "send_register", db=db)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "Rebuilt send_register: " in rebuilt.stdout and "events/s" in rebuilt.stdout
    status = json.loads(cli(home, "status", "--json", db=db).stdout)
    register_status = next(s for s in status if s["name"] == "send_register")
    assert register_status["lag"] == 0 and register_status["position"] == register_status["head"]
    rows = json.loads(
        cli(home, "register", "--json", "--sort", "status", "--include-left", db=db).stdout
    )
    assert len(rows) == 12 and set(rows[0]) == {
        "pupil_id", "upn", "name", "academy", "year_group", "status", "census_code",
        "sub_flags", "primary_need", "secondary_needs", "since", "key_worker", "left_on",
    }  # fmt: skip
    order = ["ehcp", "sen_support", "monitoring", "none"]
    assert [order.index(r["status"]) for r in rows] == sorted(
        order.index(r["status"]) for r in rows
    )
    oak = cli(home, "register", "--academy", "OAK", db=db).stdout
    oak_names = [r["name"] for r in rows if r["academy"] == "OAK"]
    assert oak_names and all(name in oak for name in oak_names)
    assert not any(r["name"] in oak for r in rows if r["academy"] not in ("OAK", None))
    census = json.loads(cli(home, "census", "--json", "--as-of", "2026-01-15", db=db).stdout)
    assert census["as_of"] == "2026-01-15" and {a["academy"] for a in census["academies"]} <= {
        "OAK", "RIV", "HTH", "MDW",
    }  # fmt: skip
    bad = cli(home, "register", "--status", "senn", db=db)
    assert bad.returncode == 2 and "unknown status 'senn'" in bad.stderr
    unknown = cli(home, "rebuild", "nope", db=db)
    assert unknown.returncode == 1 and "error: unknown projection 'nope'" in unknown.stderr
    assert "Traceback" not in bad.stderr + unknown.stderr


# ----- helpers over the raw store ------------------------------------------------------------


def raw_ids(records: PupilRecords) -> list[int]:
    table = records.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
    with records.datastore.transaction(commit=False) as session:
        return [int(i) for i in session.execute(select(table.c.id).order_by(table.c.id)).scalars()]


def pupil_ids(records: PupilRecords) -> list[UUID]:
    table = records.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
    with records.datastore.transaction(commit=False) as session:
        rows = session.execute(select(table.c.originator_id).distinct()).scalars()
        return [r if isinstance(r, UUID) else UUID(str(r)) for r in rows]


def _type(topic: str) -> str:
    return topic.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
