"""Nothing identifying in clear at rest: no column from which a date of birth can be read.

After the demo trust and after a purge, every table of the store is read back as text and
searched for each pupil's date of birth and for the exact "date of birth + the retention
years" (which is the birthday: the schedule keeps the end of that month instead), and the
retention audit never quotes a due date. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import inspect

from api.app.bodies import ProposePurge
from api.app.caller import Caller
from api.application import PupilRecords
from api.bootstrap import assemble, build_ledger
from api.demo import generate
from domain.policy import add_years
from domain.values import Role
from projections.retention_schedule import RetentionReader


def _every_value(records: PupilRecords) -> list[str]:
    """Every non-binary value of every table, as text."""
    engine = records.datastore.engine
    names = inspect(engine).get_table_names()
    assert "retention_pupils" in names and "retention_audit" in names
    found: list[str] = []
    with engine.connect() as conn:
        for name in names:
            # The driver's own values: no column type's conversion in the way.
            for row in conn.exec_driver_sql(f'SELECT * FROM "{name}"'):
                found.extend(str(v) for v in row if not isinstance(v, bytes | memoryview))
    return found


def _birthdays(records: PupilRecords) -> dict[Any, date]:
    return {
        e.pupil_id: date.fromisoformat(e.payload["date_of_birth"]) for e in records.registrations()
    }


def _check(records: PupilRecords, born: dict[Any, date]) -> None:
    values = set(_every_value(records))
    years = records.policy.retention.years
    for pupil_id, dob in born.items():
        for day in (dob, add_years(dob, years)):
            assert day.isoformat() not in values, (pupil_id, day)
            assert str(day) not in values, (pupil_id, day)


def test_no_birthday_in_clear_after_the_demo_and_a_purge(
    records: PupilRecords, tmp_path: Path
) -> None:
    generate(records, pupils=25, seed=7)
    born = _birthdays(records)
    key = Ed25519PrivateKey.generate()
    app = assemble(
        records,
        build_ledger(records, key, None),
        signing_key=key,
        purge_journal=tmp_path / "purges.jsonl",
    )
    _, schedule = app.reads.retention_schedule(Caller.operator("dpo-a", Role.DPO), "all")
    assert schedule
    for entry in schedule:
        exact = records.policy.retention_due(born[entry.pupil_id])
        assert entry.due_on is not None and entry.due_on >= exact
        assert (entry.due_on.year, entry.due_on.month) == (exact.year, exact.month)
    _check(records, born)
    # A refused proposal (not yet due) and a purge: the audit never quotes the due date.
    victim = schedule[-1].pupil_id
    dpo, other = Caller.operator("dpo-a", Role.DPO), Caller.operator("dpo-b", Role.DPO)
    try:
        app.purges.propose(dpo, victim, ProposePurge())
    except Exception as refused:
        assert "not due for purging" in str(refused)
    app.purges.propose(dpo, victim, ProposePurge(override="records moved to the LA"))
    app.purges.approve(other, victim)
    _check(records, born)
    entry = RetentionReader(records).entry(victim)
    assert entry is not None and entry.due_on is None and entry.purged_on is not None
    # The purged pupil's audit lines went with the purge; the signed record stays.
    assert [r for r in app.purges._retention().audit_entries(victim)] == []
    assert app.reads.purge_record_of(victim) is not None


def test_a_scoped_dpo_sees_only_their_academies_on_the_schedule(
    records: PupilRecords, tmp_path: Path
) -> None:
    generate(records, pupils=25, seed=7)
    key = Ed25519PrivateKey.generate()
    app = assemble(records, build_ledger(records, key, None))
    whole = app.reads.retention_schedule(Caller.operator("dpo", Role.DPO), "all")[1]
    academies = {e.pupil_id: records.get_pupil(e.pupil_id).academy for e in whole}
    one = next(iter(sorted(a for a in academies.values() if a)))
    scoped = Caller("dpo-oak", Role.DPO, frozenset({one}))
    shown = app.reads.retention_schedule(scoped, "all")[1]
    assert shown and {academies[e.pupil_id] for e in shown} == {one}
    assert len(shown) < len(whole)
