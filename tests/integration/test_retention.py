"""Retention on SQLite and PostgreSQL: the two-person rule, holds, due dates, the purge
itself (no trace left, others unharmed, a signed record that matches the ledger), and
restore safety."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.application import PupilRecords
from api.bootstrap import build_ledger
from api.export import Disclosure, export_pupil
from api.retention import Retention, RetentionRefused
from crypto.bundle_check import verify_bundle
from crypto.signing import public_key_hex
from domain.errors import PupilPurged
from domain.policy import TrustPolicy, load_policy_named
from domain.pupil import Pupil
from domain.values import DslDecision, Recorder, Role, upn_check_letter
from projections.ledger_audit import audit
from tests.conftest import OpenRecords, Store
from tests.factories import SENDCO, add_concern
from tests.retention_desk import Desk
from tests.sql import event_count, raw

DPO_A = Recorder("dpo-ada", Role.DPO)
DPO_B = Recorder("dpo-bo", Role.DPO)
ADMIN = Recorder("admin-cy", Role.TRUST_ADMIN)
TEACHER = Recorder("t-dee", Role.TEACHER)
TODAY = datetime(2047, 6, 1, 12, 0, tzinfo=UTC)  # pupils born May 2015 are due by June 2046
NAME, FAMILY, SECRET = "Zephyrine", "Oakenshield-Marrow", "hides behind the piano in music"


@pytest.fixture
def records(open_records: OpenRecords) -> PupilRecords:
    app = open_records()
    app.clock = lambda: TODAY
    return app


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def dpo(records: PupilRecords, key: Ed25519PrivateKey, tmp_path: Path) -> Desk:
    ledger = build_ledger(records, key, tmp_path / "checkpoints.jsonl")
    return Desk(records, ledger, key, tmp_path / "purges.jsonl")


def _pupils(
    records: PupilRecords, n: int = 3, born: date = date(2015, 5, 17), first: int = 0
) -> list[Pupil]:
    made = []
    for i in range(first, first + n):
        body = f"88812345{i:04d}"
        p = Pupil.register(
            upn=upn_check_letter(body) + body,
            legal_given_names=NAME if i == 1 else f"P{i}",
            legal_family_name=FAMILY if i == 1 else "Other",
            preferred_name=None,
            date_of_birth=born,
            academy="OAK",
            year_group=4,
            recorded_by=SENDCO,
            happened_on=date(2024, 9, 4),
            recorded_at=datetime(2024, 9, 4, 9, tzinfo=UTC),
        )
        add_concern(p, SECRET if i == 1 else "an ordinary concern")
        records.save(p)
        made.append(p)
    return made


def _refused(dpo: Desk, store: Store, message: str, action: Any) -> None:
    events, audits = event_count(store), len(dpo.audit_entries())
    with pytest.raises(RetentionRefused, match=message):
        action()
    assert event_count(store) == events  # no trace …
    entries = dpo.audit_entries()
    assert len(entries) == audits + 1 and entries[-1]["outcome"] == "refused"  # … but this


class TestTwoPersonRule:
    def test_self_approval_is_refused(self, records: PupilRecords, dpo: Desk, store: Store) -> None:
        pupil = _pupils(records)[0]
        dpo.propose(pupil.id, DPO_A)
        _refused(dpo, store, "cannot approve it", lambda: dpo.approve(pupil.id, DPO_A))

    def test_only_a_dpo_proposes_and_only_dpo_or_admin_approves(
        self, records: PupilRecords, dpo: Desk, store: Store
    ) -> None:
        pupil = _pupils(records)[0]
        _refused(dpo, store, "only a data-protection officer", lambda: dpo.propose(pupil.id, ADMIN))
        dpo.propose(pupil.id, DPO_A)
        _refused(dpo, store, "not teacher", lambda: dpo.approve(pupil.id, TEACHER))
        assert dpo.approve(pupil.id, ADMIN).record["approved_by"] == "admin-cy"

    def test_approval_needs_a_proposal(
        self, records: PupilRecords, dpo: Desk, store: Store
    ) -> None:
        pupil = _pupils(records)[0]
        _refused(dpo, store, "no purge proposal", lambda: dpo.approve(pupil.id, DPO_B))

    def test_a_hold_blocks(self, records: PupilRecords, dpo: Desk, store: Store) -> None:
        pupil = _pupils(records)[0]
        dpo.hold(pupil.id, DPO_A, "tribunal appeal pending", "legal team")
        _refused(dpo, store, "legal hold", lambda: dpo.propose(pupil.id, DPO_A))
        dpo.release(pupil.id, DPO_B, "appeal concluded")
        dpo.propose(pupil.id, DPO_A)
        dpo.approve(pupil.id, DPO_B)

    def test_a_hold_placed_after_the_proposal_still_blocks(
        self, records: PupilRecords, dpo: Desk, store: Store
    ) -> None:
        pupil = _pupils(records)[0]
        dpo.propose(pupil.id, DPO_A)
        dpo.hold(pupil.id, DPO_A, "subject access request open", "dpo")
        _refused(dpo, store, "legal hold", lambda: dpo.approve(pupil.id, DPO_B))

    def test_not_due_blocks_without_a_recorded_override(
        self, records: PupilRecords, dpo: Desk, store: Store
    ) -> None:
        pupil = _pupils(records, born=date(2024, 1, 1))[0]
        until = "not due for purging until the end of January 2055 \\(the SEN file's"
        _refused(dpo, store, until, lambda: dpo.propose(pupil.id, DPO_A))
        assert "2055" not in dpo.audit_entries(pupil.id)[-1]["detail"]  # no due date kept
        dpo.propose(pupil.id, DPO_A, override="court order 2045/117")
        assert "override: court order 2045/117" in dpo.audit_entries(pupil.id)[-1]["detail"]
        dpo.approve(pupil.id, DPO_B)
        # The purge takes the pupil's audit lines with it; its signed record names both.
        assert dpo.audit_entries(pupil.id) == []
        (record,) = [r for r in dpo.purge_records() if r.pupil_id == pupil.id]
        assert (record.record["proposed_by"], record.record["approved_by"]) == (
            DPO_A.staff_id,
            DPO_B.staff_id,
        )

    def test_already_purged_is_refused(
        self, records: PupilRecords, dpo: Desk, store: Store
    ) -> None:
        pupil = _pupils(records)[0]
        dpo.propose(pupil.id, DPO_A)
        dpo.approve(pupil.id, DPO_B)
        _refused(dpo, store, "were purged", lambda: dpo.propose(pupil.id, DPO_A))


def _desk_under(
    records: PupilRecords, policy: TrustPolicy, key: Ed25519PrivateKey, tmp_path: Path
) -> Desk:
    records.policy = policy  # before the desk is built: its schedule follows this policy
    ledger = build_ledger(records, key, tmp_path / "checkpoints.jsonl")
    return Desk(records, ledger, key, tmp_path / "purges.jsonl")


def _cross_reference(records: PupilRecords, pupil: Pupil) -> None:
    loaded = records.get_pupil(pupil.id)
    loaded.cross_reference_safeguarding(
        policy=records.policy,
        cpoms_log_id="CP-00017",
        note="Logged in CPOMS by the DSL",
        dsl_decision=DslDecision.MONITOR_IN_SCHOOL,
        decided_by="OAK-dsl-1",
        recorded_by=SENDCO,
        happened_on=date(2025, 1, 10),
        recorded_at=datetime(2025, 1, 10, 9, tzinfo=UTC),
    )
    records.save(loaded)


def _with_years(policy: TrustPolicy, sen_file: int, child_protection: int) -> TrustPolicy:
    periods = {"years": sen_file, "child_protection_years": child_protection}
    return policy.model_copy(update={"retention": policy.retention.model_copy(update=periods)})


class TestGoverningDate:
    """The purge waits for the latest period that applies to what the record holds."""

    def test_default_sen_files_are_kept_to_dob_plus_31(
        self, records: PupilRecords, dpo: Desk, store: Store
    ) -> None:
        # Born May 2016: DOB + 25 (the old default) ended in May 2041, long before TODAY;
        # DOB + 31 ends in May 2047, the month TODAY is in.
        due_now = _pupils(records, 1, born=date(2016, 5, 31))[0]
        assert dpo.propose(due_now.id, DPO_A) == date(2047, 5, 31)
        not_yet = _pupils(records, 1, born=date(2016, 6, 1), first=1)[0]
        _refused(
            dpo,
            store,
            "until the end of June 2047 \\(the SEN file's retention period\\)",
            lambda: dpo.propose(not_yet.id, DPO_A),
        )

    def test_a_cross_reference_under_the_default_is_kept_for_the_sen_file(
        self, records: PupilRecords, dpo: Desk, store: Store
    ) -> None:
        pupil = _pupils(records, 1, born=date(2017, 1, 15))[0]  # DOB + 25: 2042; + 31: 2048
        _cross_reference(records, pupil)
        entry = dpo.retention_entry(pupil.id)
        assert (entry.sen_file_due_on, entry.child_protection_due_on) == (
            date(2048, 1, 31),
            date(2042, 1, 31),
        )
        assert (entry.due_on, entry.governed_by) == (date(2048, 1, 31), "sen_file")
        _refused(dpo, store, "end of January 2048", lambda: dpo.propose(pupil.id, DPO_A))

    def test_a_longer_child_protection_period_holds_the_purge_back(
        self, records: PupilRecords, key: Ed25519PrivateKey, store: Store, tmp_path: Path
    ) -> None:
        desk = _desk_under(records, _with_years(records.policy, 25, 35), key, tmp_path)
        plain, referenced = _pupils(records, 2, born=date(2015, 5, 17))
        _cross_reference(records, referenced)
        entry = desk.retention_entry(referenced.id)
        assert (entry.due_on, entry.governed_by) == (date(2050, 5, 31), "child_protection")
        _refused(
            desk,
            store,
            "until the end of May 2050 \\(the child protection retention period, which ends later",
            lambda: desk.propose(referenced.id, DPO_A),
        )
        # The pupil without a restricted entry is a SEN file only: due in May 2040.
        assert desk.propose(plain.id, DPO_A) == date(2040, 5, 31)
        desk.approve(plain.id, DPO_B)

    def test_harmony_purges_at_dob_plus_25(
        self, records: PupilRecords, key: Ed25519PrivateKey, store: Store, tmp_path: Path
    ) -> None:
        desk = _desk_under(records, load_policy_named("harmony"), key, tmp_path)
        pupil = _pupils(records, 1, born=date(2022, 5, 17))[0]  # DOB + 25: May 2047
        _cross_reference(records, pupil)
        assert desk.propose(pupil.id, DPO_A) == date(2047, 5, 31)
        later = _pupils(records, 1, born=date(2022, 6, 17), first=1)[0]
        _refused(desk, store, "end of June 2047", lambda: desk.propose(later.id, DPO_A))


class TestPurge:
    def test_purge_leaves_nothing_readable_and_others_intact(
        self, records: PupilRecords, dpo: Desk, store: Store, tmp_path: Path
    ) -> None:
        pupils = _pupils(records)
        victim = pupils[1]
        wrapped = bytes(
            raw(store, "SELECT wrapped FROM chronicle_data_keys WHERE wrapped IS NOT NULL")[1][0]
        )
        dpo.propose(victim.id, DPO_A)
        record = dpo.approve(victim.id, DPO_B)
        with pytest.raises(PupilPurged, match=f"{victim.id} were purged on 2047-06-01"):
            records.get_pupil(victim.id)
        with pytest.raises(PupilPurged):
            records.entries(victim.id)
        for other in (pupils[0], pupils[2]):
            assert records.get_pupil(other.id).version == 2
            bundle = export_pupil(
                records, dpo.ledger, other.id, Disclosure("x", "other", "y", DPO_A)
            ).bundle
            assert verify_bundle(bundle).valid
        assert audit(dpo.ledger, opener=records.sealing_mapper.committed).problems == []
        everything = _all_bytes(store, tmp_path)
        for needle in (NAME, FAMILY, SECRET, victim.upn):
            assert needle.encode() not in everything, needle
        if (
            store.kind == "sqlite"
        ):  # PostgreSQL's dump shows live rows only; VACUUM is tested by scrub
            assert wrapped not in everything
        assert record.record["head_seq"] == 3

    def test_the_purge_record_verifies_and_matches_the_ledger(
        self, records: PupilRecords, dpo: Desk, key: Ed25519PrivateKey
    ) -> None:
        victim = _pupils(records)[1]
        dpo.propose(victim.id, DPO_A)
        record = dpo.approve(victim.id, DPO_B)
        assert record.verifies(public_key_hex(key))
        assert not record.verifies(public_key_hex(Ed25519PrivateKey.generate()))
        chain = dpo.ledger.chain(victim.id)
        assert record.record["head_leaf_hash"] == chain[-1].hex()
        assert record.record["head_seq"] == len(chain)
        head = dpo.ledger.head(victim.id)
        assert head is not None and head.log_index == record.record["log_index"]
        assert dpo.journalled() == [record] == dpo.purge_records()
        tampered = type(record)(
            dict(record.record, approved_by="someone-else"), record.signature, record.public_key
        )
        assert not tampered.verifies()

    def test_a_second_process_with_the_key_cached_cannot_read_after_the_purge(
        self, open_records: OpenRecords, records: PupilRecords, dpo: Desk
    ) -> None:
        other_process = open_records(records.data_keys.ring)
        victim = _pupils(records)[1]
        assert other_process.get_pupil(victim.id).legal_given_names == NAME  # key now cached there
        dpo.propose(victim.id, DPO_A)
        dpo.approve(victim.id, DPO_B)
        with pytest.raises(PupilPurged):
            other_process.get_pupil(victim.id)
        with pytest.raises(PupilPurged):
            other_process.entries(victim.id)


class TestRestoreSafety:
    def test_a_restored_backup_is_purged_again(
        self,
        records: PupilRecords,
        dpo: Desk,
        store: Store,
        tmp_path: Path,
        key: Ed25519PrivateKey,
    ) -> None:
        victim = _pupils(records)[1]
        backup = _backup(store, tmp_path)
        dpo.propose(victim.id, DPO_A)
        dpo.approve(victim.id, DPO_B)
        records.close()
        _restore(store, backup)
        restored = PupilRecords(database_url=store.url, ring=records.data_keys.ring)  # type: ignore[arg-type]
        try:
            restored.clock = lambda: TODAY
            again = Retention(restored, build_ledger(restored, key, None), key, dpo.journal)
            assert [r.pupil_id for r in again.unapplied()] == [victim.id]
            assert (
                restored.get_pupil(victim.id).legal_given_names == NAME
            )  # the backup brought it back
            assert [r.pupil_id for r in again.reapply()] == [victim.id]
            assert again.unapplied() == []
            restored.data_keys.forget(victim.id)
            with pytest.raises(PupilPurged):
                restored.get_pupil(victim.id)
        finally:
            restored.close()

    def test_a_forged_journal_is_refused(
        self, records: PupilRecords, dpo: Desk, store: Store, tmp_path: Path
    ) -> None:
        victim = _pupils(records)[1]
        backup = _backup(store, tmp_path)
        dpo.propose(victim.id, DPO_A)
        dpo.approve(victim.id, DPO_B)
        _restore(store, backup)
        other = Ed25519PrivateKey.generate()
        forger = Retention(records, dpo.ledger, other, dpo.journal)
        with pytest.raises(RetentionRefused, match="not signed by this trust's key"):
            forger.reapply()


def _backup(store: Store, tmp_path: Path) -> Path:
    target = tmp_path / "backup"
    if store.sqlite_path is not None:
        import sqlite3

        source, copy = sqlite3.connect(store.sqlite_path), sqlite3.connect(target)
        source.backup(copy)
        source.close()
        copy.close()
        return target
    url = store.database.replace("postgresql+psycopg2://", "postgresql://")  # type: ignore[union-attr]
    subprocess.run(
        ["pg_dump", "--schema", store.schema, "--file", str(target), "--dbname", url], check=True
    )  # type: ignore[list-item]
    return target


def _restore(store: Store, backup: Path) -> None:
    if store.sqlite_path is not None:
        import sqlite3

        source, target = sqlite3.connect(backup), sqlite3.connect(store.sqlite_path)
        source.backup(target)
        source.close()
        target.close()
        return
    url = store.database.replace("postgresql+psycopg2://", "postgresql://")  # type: ignore[union-attr]
    raw(store, f"DROP SCHEMA {store.schema} CASCADE")
    subprocess.run(
        ["psql", "--quiet", "--file", str(backup), "--dbname", url], check=True, capture_output=True
    )


def _all_bytes(store: Store, tmp_path: Path) -> bytes:
    """Every byte of the store (SQLite files, or a dump) and of every file the test wrote."""
    from tests.integration.test_store_contract import _all_stored_bytes

    files = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    return _all_stored_bytes(store) + files


def test_chronicle_refuses_to_start_until_a_restored_backup_is_purged_again(
    tmp_path: Path,
) -> None:
    """The composition root itself (what `chronicle …` and `serve` open) refuses to start."""
    import sqlite3

    from api.bootstrap import SetupError, init_home, open_ledger, open_records, open_retention
    from api.settings import Settings

    settings = Settings(home=tmp_path / "home")
    init_home(settings)
    records = open_records(settings, clock=lambda: TODAY)
    victim = _pupils(records)[1]
    database = settings.sqlite_path
    backup = tmp_path / "backup.db"
    with sqlite3.connect(database) as source, sqlite3.connect(backup) as copy:
        source.backup(copy)
    dpo = open_retention(settings, records, open_ledger(settings, records))
    dpo.propose(victim.id, DPO_A)
    dpo.approve(victim.id, DPO_B)
    records.close()
    with sqlite3.connect(backup) as source, sqlite3.connect(database) as target:
        source.backup(target)
    with pytest.raises(SetupError, match=r"1 journalled purge.*reapply-purges"):
        open_records(settings)
    restored = open_records(settings, check_purges=False)
    try:
        open_retention(settings, restored, open_ledger(settings, restored)).reapply()
    finally:
        restored.close()
    reopened = open_records(settings)
    try:
        with pytest.raises(PupilPurged):
            reopened.get_pupil(victim.id)
    finally:
        reopened.close()
