"""The trust's academies are a closed list (api/academies.py): users, registrations,
transfers and listing filters accept only listed codes, and with no academy listed at all
everything that names one is refused. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert

from api.academies import NONE_CONFIGURED, Academies, AcademyError
from api.app.bodies import RegisterPupil, TransferWithinTrust
from api.app.caller import Caller
from api.app.errors import AppError
from api.app.service import Chronicle
from api.application import PupilRecords
from api.bootstrap import assemble, build_ledger
from api.demo import ACADEMIES, generate
from api.users import Users, api_users, token_hash
from domain.values import Role
from tests.factories import a_pupil

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SENDCO_OAK = Caller("OAK-sendco-1", Role.SENDCO, frozenset({"OAK"}))
SENDCO_TRUST = Caller("TRUST-sendco-1", Role.SENDCO)


def _chronicle(records: PupilRecords, tmp_path: Path) -> Chronicle:
    key = Ed25519PrivateKey.generate()
    ledger = build_ledger(records, key, None)
    return assemble(records, ledger, signing_key=key, purge_journal=tmp_path / "p.jsonl")


def _listed(records: PupilRecords, *codes: str) -> Academies:
    academies = Academies(records.datastore.engine)
    for code in codes:
        academies.add(code, f"{code.title()} Academy", NOW)
    return academies


def _registration(academy: str) -> RegisterPupil:
    return RegisterPupil(
        upn="P873204120012",
        legal_given_names="Zebedee",
        legal_family_name="Quartermaine",
        date_of_birth=date(2015, 5, 17),
        academy=academy,
        year_group=4,
    )


def _refused(status: int, excinfo: pytest.ExceptionInfo[AppError]) -> str:
    assert excinfo.value.status == status, excinfo.value.detail
    return excinfo.value.detail


# ----- the list itself -------------------------------------------------------------------


def test_academies_are_added_listed_and_renamed_never_duplicated(records: PupilRecords) -> None:
    academies = Academies(records.datastore.engine)
    assert academies.everyone() == []
    oak = academies.add("oak", "  Oakfield   Primary Academy ", NOW, urn="138291")
    assert (oak.code, oak.name, oak.urn, oak.dfe_number) == (
        "OAK",
        "Oakfield Primary Academy",
        "138291",
        None,
    )
    academies.add("ELM", "Elmwood Academy", NOW, dfe_number="8732041")
    assert [a.code for a in academies.everyone()] == ["ELM", "OAK"]
    elm = academies.get("ELM")
    assert elm is not None and elm.dfe_number == "873/2041"
    with pytest.raises(AcademyError, match="already listed"):
        academies.add("OAK", "Another Oak", NOW)
    renamed = academies.rename("OAK", "Oakfield Academy")
    assert (renamed.code, renamed.name, renamed.urn) == ("OAK", "Oakfield Academy", "138291")
    with pytest.raises(AcademyError, match="no academy ZZZ in this trust; academies: ELM, OAK"):
        academies.rename("ZZZ", "Nowhere")


@pytest.mark.parametrize("code", ["", " ", ",", "OAK,ELM", "OAK ELM", "-OAK", "X" * 41, "ÖAK"])
def test_a_malformed_code_is_refused(records: PupilRecords, code: str) -> None:
    with pytest.raises(AcademyError, match="is not an academy code"):
        Academies(records.datastore.engine).add(code, "Somewhere", NOW)
    assert Academies(records.datastore.engine).everyone() == []


def test_a_malformed_urn_dfe_number_or_name_is_refused(records: PupilRecords) -> None:
    academies = Academies(records.datastore.engine)
    with pytest.raises(AcademyError, match="six digits"):
        academies.add("OAK", "Oakfield", NOW, urn="12345")
    with pytest.raises(AcademyError, match="DfE number"):
        academies.add("OAK", "Oakfield", NOW, dfe_number="87/2041")
    with pytest.raises(AcademyError, match="--name"):
        academies.add("OAK", "   ", NOW)
    assert academies.everyone() == []


def test_the_demo_lists_its_academies_with_their_names(records: PupilRecords) -> None:
    generate(records, pupils=3)
    listed = {a.code: a for a in Academies(records.datastore.engine).everyone()}
    assert {code: a.name for code, a in listed.items()} == {a.code: a.name for a in ACADEMIES}
    assert listed["OAK"].dfe_number == "873/2041"


# ----- users --------------------------------------------------------------------------------


@pytest.mark.parametrize("given", [[","], [" "], [""], ["OAK,ELM"], ["ZZZ"], ["OAK", "ZZZ"]])
def test_users_add_refuses_blank_and_unknown_academies(
    records: PupilRecords, given: list[str]
) -> None:
    _listed(records, "OAK", "ELM")
    users = Users(records.datastore.engine)
    for role in (Role.TEACHER, Role.SENDCO, Role.DPO):
        with pytest.raises(ValueError, match=r"not an academy code|no academy ZZZ in this trust"):
            users.add(f"{role.value}-1", role, given, NOW)
        with pytest.raises(ValueError, match=r"not an academy code|no academy ZZZ in this trust"):
            users.add(f"{role.value}-1", role, given, NOW, trust_wide=False)
    assert users.everyone() == []


def test_trust_wide_is_explicit_and_only_for_trust_wide_roles(records: PupilRecords) -> None:
    _listed(records, "OAK")
    users = Users(records.datastore.engine)
    with pytest.raises(ValueError, match="a teacher cannot be trust-wide"):
        users.add("T1", Role.TEACHER, [], NOW, trust_wide=True)
    with pytest.raises(ValueError, match="at least one --academy"):
        users.add("T1", Role.TEACHER, [], NOW, trust_wide=False)
    with pytest.raises(ValueError, match="or --trust-wide"):
        users.add("D1", Role.DPO, [], NOW, trust_wide=False)
    with pytest.raises(ValueError, match="not both"):
        users.add("D1", Role.DPO, ["OAK"], NOW, trust_wide=True)
    dpo, token = users.add("D1", Role.DPO, [], NOW, trust_wide=True)
    assert dpo.trust_wide and dpo.as_json()["trust_wide"] is True
    found = users.by_token(token)
    assert found is not None and found.trust_wide and found.covers("ELM")
    teacher, _ = users.add("T1", Role.TEACHER, ["OAK"], NOW, trust_wide=False)
    assert not teacher.trust_wide and teacher.covers("OAK") and not teacher.covers("ELM")


def test_with_no_academy_listed_no_user_may_be_given_one(records: PupilRecords) -> None:
    users = Users(records.datastore.engine)
    with pytest.raises(ValueError, match="no academies are configured"):
        users.add("OAK-sendco-1", Role.SENDCO, ["OAK"], NOW)
    dpo, _ = users.add("TRUST-dpo-1", Role.DPO, [], NOW, trust_wide=True)
    assert dpo.trust_wide


def _row(records: PupilRecords, name: str, role: str, academies: str) -> str:
    token = f"token-of-{name}"
    with records.datastore.engine.begin() as conn:
        conn.execute(
            insert(api_users).values(
                user_id=uuid4(),
                name=name,
                role=role,
                academies=academies,
                token_hash=token_hash(token),
                created_at=NOW,
            )
        )
    return token


def test_an_existing_empty_row_stays_trust_wide_and_a_malformed_one_covers_nothing(
    records: PupilRecords,
) -> None:
    users = Users(records.datastore.engine)
    old = users.by_token(_row(records, "TRUST-dsl-1", "dsl", ""))
    assert old is not None and old.trust_wide and old.covers("OAK")
    for n, stored in enumerate([",", " ", "OAK,", ",OAK", " , "]):
        token = _row(records, f"teacher-{n}", "teacher", stored)
        assert users.by_token(token) is None, stored  # the token is refused outright
        (listed,) = [u for u in users.everyone() if u.name == f"teacher-{n}"]
        assert listed.malformed and not listed.trust_wide and not listed.covers("OAK")
    trust_wide_teacher = _row(records, "teacher-wide", "teacher", "")  # never trust-wide
    assert users.by_token(trust_wide_teacher) is None
    fine = users.by_token(_row(records, "OAK-teacher-1", "teacher", "ELM,OAK"))
    assert fine is not None and fine.academies == {"ELM", "OAK"}


# ----- the application layer --------------------------------------------------------------


def test_registering_at_an_unlisted_academy_is_refused_naming_the_listed_ones(
    records: PupilRecords, tmp_path: Path
) -> None:
    _listed(records, "OAK", "ELM")
    app = _chronicle(records, tmp_path)
    for caller in (SENDCO_OAK, SENDCO_TRUST):
        with pytest.raises(AppError) as refused:
            app.entries.register(caller, _registration("ZZZ"))
        detail = _refused(422, refused)
        assert detail == "no academy ZZZ in this trust; academies: ELM, OAK"
        assert refused.value.code == "unknown_academy"
    with pytest.raises(AppError) as refused:
        app.entries.register(SENDCO_OAK, _registration("ELM"))  # listed, not covered
    _refused(403, refused)
    assert next(records.registrations(), None) is None
    saved = app.entries.register(SENDCO_OAK, _registration("OAK"))
    assert records.get_pupil(saved.pupil_id).academy == "OAK"


def test_with_no_academy_listed_registration_is_refused(
    records: PupilRecords, tmp_path: Path
) -> None:
    app = _chronicle(records, tmp_path)
    with pytest.raises(AppError) as refused:
        app.entries.register(SENDCO_TRUST, _registration("OAK"))
    assert _refused(422, refused) == NONE_CONFIGURED
    assert next(records.registrations(), None) is None


def test_a_transfer_to_an_unlisted_academy_is_refused_and_writes_nothing(
    records: PupilRecords, tmp_path: Path
) -> None:
    _listed(records, "OAK", "ELM")
    app = _chronicle(records, tmp_path)
    pupil = a_pupil(academy="OAK")
    records.save(pupil)
    version = records.get_pupil(pupil.id).version
    move = TransferWithinTrust(to_academy="ZZZ", reason="Family moved")
    for caller in (SENDCO_OAK, SENDCO_TRUST):
        with pytest.raises(AppError) as refused:
            app.entries.add(caller, "transfers", pupil.id, move, version)
        assert "no academy ZZZ in this trust; academies: ELM, OAK" in _refused(422, refused)
    assert records.get_pupil(pupil.id).version == version
    assert records.get_pupil(pupil.id).academy == "OAK"
    to_elm = TransferWithinTrust(to_academy="ELM", reason="Family moved")
    app.entries.add(SENDCO_OAK, "transfers", pupil.id, to_elm, version)
    assert records.get_pupil(pupil.id).academy == "ELM"


def test_a_listing_filter_naming_an_unlisted_academy_is_refused(
    records: PupilRecords, tmp_path: Path
) -> None:
    _listed(records, "OAK", "ELM")
    app = _chronicle(records, tmp_path)
    records.save(a_pupil(academy="OAK"))
    dsl = Caller("TRUST-dsl-1", Role.DSL)
    listings = {
        "list_pupils": lambda c, a: app.reads.list_pupils(c, a, 50, 0, None),
        "registrations": lambda c, a: app.reads.registrations(c, a, None),
        "register": lambda c, a: app.reads.register(c, academy=a),
        "deadlines": lambda c, a: app.reads.deadlines(c, academy=a),
    }
    for name, listing in listings.items():
        for caller in (SENDCO_OAK, SENDCO_TRUST):
            with pytest.raises(AppError) as refused:
                listing(caller, "ZZZ")
            detail = _refused(422, refused)
            assert detail == "no academy ZZZ in this trust; academies: ELM, OAK", name
        assert listing(SENDCO_TRUST, "OAK") is not None, name
    with pytest.raises(AppError) as refused:
        app.reads.access_log_across(dsl, academy="ZZZ")
    _refused(422, refused)
    with pytest.raises(AppError) as refused:
        app.reads.register(SENDCO_OAK, academy="ELM")  # listed but not the caller's
    _refused(403, refused)


def test_with_no_academy_listed_a_listing_filter_is_refused(
    records: PupilRecords, tmp_path: Path
) -> None:
    app = _chronicle(records, tmp_path)
    with pytest.raises(AppError) as refused:
        app.reads.register(SENDCO_TRUST, academy="OAK")
    assert _refused(422, refused) == NONE_CONFIGURED
    assert app.reads.register(SENDCO_TRUST).rows == []  # no filter: nothing named, nothing refused
