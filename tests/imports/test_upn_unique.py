"""A UPN is unique within the trust (api/upn_index.py), for the register command as for the
import: refused once taken, under concurrent registration too (each registration in its
own process's records), indexed from the pupils already there, kept only as a keyed hash,
and free again once its pupil is purged. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text

from api.academies import Academies
from api.app.bodies import RegisterPupil
from api.app.caller import Caller
from api.app.errors import AppError
from api.app.service import Chronicle
from api.application import PupilRecords
from api.bootstrap import assemble, build_ledger
from api.upn_index import UpnIndex, pupil_upns
from domain.values import Role
from tests.conftest import OpenRecords, Store
from tests.factories import a_pupil
from tests.imports.fixtures import upn

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SENDCO = Caller("TRUST-sendco-1", Role.SENDCO)


def chronicle(records: PupilRecords, tmp_path: Path) -> Chronicle:
    academies = Academies(records.datastore.engine)
    for code in ("OAK", "ELM"):
        if academies.get(code) is None:
            academies.add(code, f"{code.title()} Academy", NOW)
    key = Ed25519PrivateKey.generate()
    return assemble(records, build_ledger(records, key, None))


def registration(the_upn: str, academy: str = "OAK") -> RegisterPupil:
    return RegisterPupil(
        upn=the_upn,
        legal_given_names="Ottoline",
        legal_family_name="Fennimore",
        date_of_birth=date(2016, 3, 9),
        academy=academy,
        year_group=4,
    )


def registered(records: PupilRecords) -> int:
    return sum(1 for _ in records.registrations())


def test_the_same_upn_is_refused_at_any_academy_and_nothing_is_saved(
    records: PupilRecords, tmp_path: Path
) -> None:
    app = chronicle(records, tmp_path)
    app.entries.register(SENDCO, registration(upn(1)))
    for academy in ("OAK", "ELM"):
        with pytest.raises(AppError) as refused:
            app.entries.register(SENDCO, registration(upn(1), academy))
        assert (refused.value.status, refused.value.code) == (409, "upn_taken")
        assert upn(1) not in refused.value.detail
    assert registered(records) == 1
    app.entries.register(SENDCO, registration(upn(2)))
    assert registered(records) == 2


def test_a_wrong_check_letter_is_refused(records: PupilRecords, tmp_path: Path) -> None:
    app = chronicle(records, tmp_path)
    good = upn(3)
    bad = ("B" if good[0] != "B" else "C") + good[1:]
    with pytest.raises(Exception, match="wrong check letter"):
        app.entries.register(SENDCO, registration(bad))
    assert registered(records) == 0


def test_concurrent_registrations_of_one_upn_save_one_pupil(
    store: Store, open_records: OpenRecords, tmp_path: Path
) -> None:
    """Each thread has its own records and engine, as separate processes would: they all
    pass the up-front check together, and the index's primary key lets one commit."""
    apps = [chronicle(open_records(), tmp_path / str(n)) for n in range(6)]
    start = threading.Barrier(len(apps))
    outcomes: list[str] = []
    lock = threading.Lock()

    def register(app: Chronicle) -> None:
        start.wait()
        try:
            app.entries.register(SENDCO, registration(upn(42)))
            said = "saved"
        except AppError as e:
            said = e.code
        with lock:
            outcomes.append(said)

    threads = [threading.Thread(target=register, args=(app,)) for app in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["saved"] + ["upn_taken"] * (len(apps) - 1)
    assert registered(open_records()) == 1


def test_pupils_already_on_the_records_are_indexed_on_first_use(
    records: PupilRecords, tmp_path: Path
) -> None:
    earlier = a_pupil()
    records.save(earlier)  # before the index existed (a store made by an older release)
    app = chronicle(records, tmp_path)
    with pytest.raises(AppError) as refused:
        app.entries.register(SENDCO, registration(earlier.upn))
    assert refused.value.code == "upn_taken"


def test_the_index_holds_a_keyed_hash_never_the_upn(records: PupilRecords, tmp_path: Path) -> None:
    app = chronicle(records, tmp_path)
    saved = app.entries.register(SENDCO, registration(upn(5)))
    with records.datastore.engine.connect() as conn:
        rows = conn.execute(select(pupil_upns)).all()
        dumped = " ".join(str(v) for row in rows for v in row)
        assert rows[0].pupil_id == saved.pupil_id and len(rows[0].upn_hmac) == 64
        assert upn(5) not in dumped and upn(5)[1:] not in dumped
        plain = conn.execute(text("SELECT count(*) FROM chronicle_data_keys")).scalar()
    assert plain == 2  # the pupil's data key and the trust's UPN secret, both wrapped


def test_a_purged_pupils_upn_is_free_again(records: PupilRecords, tmp_path: Path) -> None:
    app = chronicle(records, tmp_path)
    saved = app.entries.register(SENDCO, registration(upn(6)))
    records.shred(saved.pupil_id)  # as a purge restored from a backup leaves it
    again = app.entries.register(SENDCO, registration(upn(6)))
    assert again.pupil_id != saved.pupil_id
    assert UpnIndex.of(records).holder(upn(6)) == again.pupil_id


def test_the_upn_secret_survives_a_kek_rotation(open_records: OpenRecords, tmp_path: Path) -> None:
    records = open_records()
    app = chronicle(records, tmp_path)
    app.entries.register(SENDCO, registration(upn(7)))
    rotation = records.data_keys.rotate_epoch(NOW)
    assert rotation.rewrapped == 2  # the pupil's key and the UPN secret
    later = chronicle(open_records(), tmp_path / "later")  # a new process: unwraps it again
    with pytest.raises(AppError) as refused:
        later.entries.register(SENDCO, registration(upn(7), "ELM"))
    assert refused.value.code == "upn_taken"


def test_two_imports_of_one_file_at_once_never_double_a_pupil(
    open_records: OpenRecords, tmp_path: Path
) -> None:
    """Two processes import the same export together: whichever loses a batch's race is
    told so (409 import_conflict) and nothing of its batch is saved; each UPN is one pupil."""
    from api.imports.mappings import CHRONICLE
    from api.imports.sources import csv_rows
    from tests.imports.fixtures import csv_bytes, pupils

    rows, encoding = csv_rows(csv_bytes(pupils(30), CHRONICLE, sen=False, academy_column=False),
                              CHRONICLE)  # fmt: skip
    apps = [chronicle(open_records(), tmp_path / str(n)) for n in range(2)]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def run(app: Chronicle) -> None:
        start.wait()
        try:
            app.imports.pupils(SENDCO, rows, CHRONICLE, encoding=encoding, academy="OAK", batch=10)
            outcomes.append("done")
        except AppError as e:
            outcomes.append(e.code)

    threads = [threading.Thread(target=run, args=(app,)) for app in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert "done" in outcomes and set(outcomes) <= {"done", "import_conflict"}
    records = open_records()
    upns = [e.payload["upn"] for e in records.registrations()]
    assert len(upns) == len(set(upns))
    # Whoever lost runs it again: everything is there once.
    apps[0].imports.pupils(SENDCO, rows, CHRONICLE, encoding=encoding, academy="OAK")
    assert registered(records) == 30


def test_a_upn_names_its_pupil_through_the_index_and_only_in_scope(
    records: PupilRecords, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from domain.errors import UnknownPupil
    from tests.conftest import count_decryptions

    app = chronicle(records, tmp_path)
    made = [
        app.entries.register(SENDCO, registration(upn(n), "OAK" if n else "ELM")) for n in range(5)
    ]
    opened = count_decryptions(records, monkeypatch)
    oak = Caller("OAK-sendco-1", Role.SENDCO, frozenset({"OAK"}))
    assert app.reads.pupil_id_of(oak, upn(3).lower()) == made[3].pupil_id
    assert len(opened) <= 1  # at most the pupil's own record, never every registration
    with pytest.raises(UnknownPupil):
        app.reads.pupil_id_of(oak, upn(0))  # at ELM: answered as no such pupil
    # A pupil saved straight to the store after the index was made is still found.
    late = a_pupil(academy="OAK")
    records.save(late)
    assert app.reads.pupil_id_of(oak, late.upn) == late.id
