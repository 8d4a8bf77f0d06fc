"""The SEND read models on both stores, through the runner: rebuilt equals incremental, a
purge removes a pupil's rows, no plaintext in the tables, the DSL's index, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import Table, select

from api.application import PupilRecords
from api.demo import DEMO_TODAY, generate
from domain.pupil import Pupil
from domain.values import AreaOfNeed, ConcernSource, DslDecision
from projections.catalogue import build_projections
from projections.chronology import chronology
from projections.crossrefs import awaiting_decision, cross_references
from projections.deadlines import due_deadlines
from projections.runner import ProjectionRunner
from projections.send_models import send_projections
from tests.conftest import Store
from tests.factories import DEFAULT, DSL, SENDCO, TEACHER, a_pupil, agree, on

SEND = ("chronology", "deadlines", "safeguarding")


def runner(records: PupilRecords) -> ProjectionRunner:
    return ProjectionRunner(records, build_projections(records.policy))


def snapshot(records: PupilRecords) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the SEND read models' tables, in a stable order."""
    tables: list[Table] = [t for p in send_projections(records.policy) for t in p.tables]
    with records.datastore.transaction(commit=False) as session:
        return {
            t.name: sorted(
                (tuple(str(v) for v in row) for row in session.execute(select(t))), key=str
            )
            for t in tables
        }


def rows_of(records: PupilRecords, pupil_id: UUID) -> int:
    tables = [t for p in send_projections(records.policy) for t in p.tables]
    with records.datastore.transaction(commit=False) as session:
        return sum(
            len(session.execute(select(t).where(t.c.pupil_id == pupil_id)).all()) for t in tables
        )


def semh_concern(pupil: Pupil, day: date) -> None:
    pupil.raise_concern(
        source=ConcernSource.TEACHER,
        area_of_need=AreaOfNeed.SEMH,
        description="Withdrawn since half term; flinches when a parent is mentioned",
        evidence="Class teacher observation",
        **on(day, TEACHER),
    )


def cross_reference(pupil: Pupil, day: date, log_id: str = "CP-2025-00417") -> None:
    pupil.cross_reference_safeguarding(
        policy=DEFAULT,
        cpoms_log_id=log_id,
        note="A CPOMS log exists; ask the DSL before contacting home.",
        dsl_decision=DslDecision.MONITOR_IN_SCHOOL,
        decided_by=DSL.staff_id,
        **on(day, SENDCO),
    )


def purge(records: PupilRecords, pupil: Pupil, day: date) -> None:
    pupil.record_purge(
        proposed_by="TRUST-dpo-1", approved_by="TRUST-dpo-2", reason="End", **on(day)
    )
    records.save(pupil)


def test_rebuilt_equals_incremental(records: PupilRecords) -> None:
    generate(records, 30)  # includes former pupils, purged and shredded before any catch-up
    following = runner(records)
    # Small batches, so the incremental run applies the log in many transactions.
    assert following.catch_up(batch=37) > 0
    late = a_pupil(concerns=2)
    agree(late, date(2025, 3, 3))
    records.save(late)
    following.catch_up()
    purge(records, late, date(2025, 6, 2))
    following.catch_up()
    records.shred(late.id)  # after the read models saw its entries
    incremental = snapshot(records)
    assert all(incremental[name] for name in ("chronology_index", "deadlines"))
    runner(records).rebuild(list(SEND))
    assert snapshot(records) == incremental


def test_a_purge_removes_the_pupils_rows(records: PupilRecords) -> None:
    following = runner(records)
    kept, purged = a_pupil(concerns=1), a_pupil(concerns=1)
    for pupil in (kept, purged):
        agree(pupil, date(2025, 1, 6))
        semh_concern(pupil, date(2025, 1, 7))
        cross_reference(pupil, date(2025, 1, 8))
        records.save(pupil)
    following.catch_up()
    assert rows_of(records, purged.id) > 0
    purge(records, purged, date(2025, 6, 2))
    records.shred(purged.id)
    following.catch_up()
    assert rows_of(records, purged.id) == 0
    assert rows_of(records, kept.id) > 0


def test_no_plaintext_in_the_read_models(records: PupilRecords) -> None:
    generate(records, 30)
    runner(records).catch_up()
    secrets: set[str] = set()
    for registration in records.registrations():
        for entry in records.entries(registration.pupil_id):
            secrets |= _personal_text(entry.payload)
    assert len(secrets) > 100  # names, UPNs and the entries' words
    dump = "\n".join(str(v) for rows in snapshot(records).values() for row in rows for v in row)
    leaked = sorted(s for s in secrets if s in dump)
    assert leaked == []


_NAMES = ("legal_given_names", "legal_family_name", "preferred_name", "upn")


def _personal_text(payload: Any, key: str = "") -> set[str]:
    """Names and UPNs, and every string that reads as words (it has a space)."""
    if isinstance(payload, dict):
        return set().union(*(_personal_text(v, k) for k, v in payload.items()))
    if isinstance(payload, list):
        return set().union(*(_personal_text(v, key) for v in payload))
    if isinstance(payload, str) and (key in _NAMES or " " in payload.strip()):
        return {payload}
    return set()


def test_the_full_chronology_is_the_record(records: PupilRecords) -> None:
    summary = generate(records, 12)
    runner(records).catch_up()
    for registration in list(records.registrations())[: summary.pupils]:
        pupil_id = registration.pupil_id
        stored = {e.seq: e for e in records.entries(pupil_id)}
        shown = chronology(records, pupil_id)
        assert sorted(e.seq for e in shown) == sorted(stored)
        for e in shown:
            assert e.payload == stored[e.seq].payload
            assert e.commitment == stored[e.seq].commitment
            assert e.recorded_at == stored[e.seq].payload["recorded_at"]
        keys = [(e.happened_on, e.recorded_at, e.seq) for e in shown]
        assert keys == sorted(keys)


def test_the_dsl_sees_cross_references_and_concerns_awaiting_a_decision(
    records: PupilRecords,
) -> None:
    following = runner(records)
    waiting, answered, early = a_pupil(concerns=0), a_pupil(concerns=0), a_pupil(concerns=0)
    semh_concern(waiting, date(2025, 1, 7))
    semh_concern(answered, date(2025, 1, 7))
    cross_reference(answered, date(2025, 1, 9), "CP-2025-00001")
    # A cross-reference dated before the concern cannot be the decision on it.
    cross_reference(early, date(2025, 1, 2), "CP-2025-00002")
    semh_concern(early, date(2025, 1, 7))
    # Concerns of other areas do not go to the DSL.
    waiting.raise_concern(
        source=ConcernSource.PARENT,
        area_of_need=AreaOfNeed.COGNITION_AND_LEARNING,
        description="Reading age well below",
        evidence="Reading test",
        **on(date(2025, 1, 8), TEACHER),
    )
    for pupil in (waiting, answered, early):
        records.save(pupil)
    following.catch_up()
    found = {(w.pupil_id, w.concern_seqs, w.first_raised_on) for w in awaiting_decision(records)}
    assert found == {(waiting.id, (2,), date(2025, 1, 7)), (early.id, (3,), date(2025, 1, 7))}
    index = {c.cpoms_log_id: c for c in cross_references(records)}
    assert set(index) == {"CP-2025-00001", "CP-2025-00002"}
    first = index["CP-2025-00001"]
    assert (first.pupil_id, first.academy, first.added_by, first.added_role) == (
        answered.id,
        "OAK",
        SENDCO.staff_id,
        "sendco",
    )
    assert (first.added_on, first.dsl_decision, first.decided_by) == (
        date(2025, 1, 9),
        "monitor_in_school",
        DSL.staff_id,
    )
    # The decision arrives; the pupil moves academy and the index follows.
    cross_reference(waiting, date(2025, 1, 10), "CP-2025-00003")
    waiting.transfer_within_trust(to_academy="HTH", reason="Moved", **on(date(2025, 2, 3)))
    records.save(waiting)
    following.catch_up()
    assert [w.pupil_id for w in awaiting_decision(records)] == [early.id]
    assert [c.cpoms_log_id for c in cross_references(records, academy="HTH")] == ["CP-2025-00003"]
    moved = cross_references(records, academy="HTH")[0]
    assert moved.added_at_academy == "OAK"
    assert awaiting_decision(records, academy="HTH") == []


def test_deadlines_on_both_stores(records: PupilRecords) -> None:
    pupil = a_pupil(concerns=0)
    agree(pupil, date(2025, 1, 6), review_on=date(2025, 3, 28))
    records.save(pupil)
    runner(records).catch_up()
    assert [d.status for d in due_deadlines(records, as_of=date(2025, 3, 28))] == ["due"]
    assert [d.status for d in due_deadlines(records, as_of=date(2025, 3, 29))] == ["overdue"]


# ----- the command line -------------------------------------------------------------------


def _run(home: Path, db: str | None, *args: str) -> Any:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICLE_")}
    environ |= {"CHRONICLE_HOME": str(home), "COLUMNS": "200"}
    if db:
        environ["CHRONICLE_DATABASE_URL"] = db
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", *args], env=environ, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if "--json" in args else result.stdout


def test_the_read_verbs(tmp_path: Path, store: Store) -> None:
    home, db = tmp_path / "home", None if store.kind == "sqlite" else store.url
    _run(home, db, "init")
    # Enough pupils for the demo's rarer stories (a safeguarding cross-reference is 1 in 10).
    _run(home, db, "demo", "--pupils", "60")
    crossrefs = _run(home, db, "safeguarding", "--json")
    assert crossrefs and all("note" not in c for c in crossrefs)
    pupil = crossrefs[0]["pupil_id"]
    whole = _run(home, db, "chronology", pupil, "--json")
    teacher = _run(home, db, "chronology", pupil, "--as", "teacher", "--json")
    dsl = _run(home, db, "chronology", pupil, "--as", "dsl", "--json")
    assert all(full["payload"] is not None for full in whole)
    # A teacher is not told that entries they may not read exist; the rest are shown whole.
    shown = {e["seq"] for e in teacher}
    assert shown < {e["seq"] for e in whole}
    assert all(e["payload"] is not None for e in teacher)
    assert "SafeguardingCrossReferenced" not in {e["type"] for e in teacher}
    assert [e["seq"] for e in dsl] == [e["seq"] for e in whole]
    concerns = _run(home, db, "chronology", pupil, "--kind", "ConcernRaised", "--json")
    assert concerns and {e["type"] for e in concerns} == {"ConcernRaised"}
    text = _run(home, db, "chronology", pupil, "--as", "dpo", "--purpose", "SAR-1")
    assert "not shown to the dpo role" in text
    due = _run(home, db, "deadlines", "--as-of", DEMO_TODAY.isoformat(), "--json")
    assert due and all(d["due_on"] <= "2026-11-30" for d in due)
    overdue = _run(home, db, "deadlines", "--as-of", DEMO_TODAY.isoformat(), "--overdue", "--json")
    assert {d["status"] for d in overdue} == {"overdue"}
    awaiting = _run(home, db, "safeguarding", "--awaiting-decision", "--json")
    assert all(set(a) >= {"pupil_id", "academy", "concern_seqs"} for a in awaiting)
    assert "deadlines as of 2026-11-02" in _run(home, db, "deadlines", "--as-of", "2026-11-02")
