"""Invariants of registration, concerns, needs, corrections and the purge: one test each,
asserting the error and that no event was emitted. Other concepts have their own files."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from domain.errors import (
    DateOutOfRange,
    InvalidEntry,
    InvalidUPN,
    PupilPurged,
    TransitionNotAllowed,
    UnknownEntry,
)
from domain.events import EVENT_TYPES, PupilRegistered
from domain.pupil import Pupil
from domain.values import NeedType, RegisterStatus, SubFlag
from tests.factories import (
    DEFAULT,
    RECORDED_AT,
    SENDCO,
    a_full_history,
    a_pupil,
    add_concern,
    on,
)
from tests.factories import refused as _refused


def _fresh() -> Pupil:
    pupil = a_pupil(concerns=0)
    pupil.collect_events()
    return pupil


def _common(**kw: Any) -> dict[str, Any]:
    return {
        "recorded_by": SENDCO,
        "happened_on": date(2025, 1, 10),
        "recorded_at": RECORDED_AT,
    } | kw


def _register(**kw: Any) -> Pupil:
    args = {
        "upn": "H801200001001",
        "legal_given_names": "Ann",
        "legal_family_name": "Example",
        "preferred_name": None,
        "date_of_birth": date(2015, 1, 1),
        "academy": "OAK",
        "year_group": 4,
        "recorded_by": SENDCO,
        "happened_on": date(2024, 9, 4),
        "recorded_at": RECORDED_AT,
    }
    return Pupil.register(**(args | kw))


def test_registration_validates_the_upn() -> None:
    with pytest.raises(InvalidUPN):
        _register(upn="B801200001001")


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("legal_given_names", " ", "legal given names is required"),
        ("year_group", 15, "year group 15 is out of range"),
        ("date_of_birth", date(2030, 1, 1), "date of birth 2030-01-01 is in the future"),
        ("happened_on", date(2014, 1, 1), "before the pupil's date of birth"),
    ],
)
def test_registration_refuses_bad_fields(field: str, value: Any, match: str) -> None:
    with pytest.raises(InvalidEntry, match=match):
        _register(**{field: value})


def test_entries_cannot_describe_the_future() -> None:
    pupil = _fresh()
    _refused(
        pupil,
        DateOutOfRange,
        "cannot describe the future",
        pupil.raise_concern,
        **_common(happened_on=date(2025, 3, 5)),
        source="teacher",
        area_of_need=None,
        description="x",
        evidence="",
    )


def test_entries_cannot_predate_birth() -> None:
    pupil = _fresh()
    _refused(
        pupil,
        DateOutOfRange,
        "before the pupil's date of birth",
        pupil.raise_concern,
        **_common(happened_on=date(2010, 1, 1)),
        source="teacher",
        area_of_need=None,
        description="x",
        evidence="",
    )


def test_a_concern_needs_a_description() -> None:
    pupil = _fresh()
    _refused(
        pupil,
        InvalidEntry,
        "description of the concern is required",
        pupil.raise_concern,
        **_common(),
        source="teacher",
        area_of_need=None,
        description="  ",
        evidence="",
    )


def test_sen_support_needs_a_primary_need() -> None:
    pupil = _fresh()
    _refused(
        pupil,
        TransitionNotAllowed,
        "needs a primary need",
        pupil.change_register_status,
        **_common(),
        policy=DEFAULT,
        status=RegisterStatus.SEN_SUPPORT,
        sub_flags=(),
        reason="r",
        decision_maker="S",
        parents_informed_on=None,
    )


def test_status_must_change() -> None:
    pupil = _fresh()
    _refused(
        pupil,
        TransitionNotAllowed,
        "already on the register as none",
        pupil.change_register_status,
        **_common(),
        policy=DEFAULT,
        status=RegisterStatus.NONE,
        sub_flags=(),
        reason="r",
        decision_maker="S",
        parents_informed_on=None,
    )


def test_a_primary_need_cannot_be_withdrawn_while_on_k() -> None:
    pupil = _fresh()
    pupil.record_need(**_common(), need=NeedType.SLCN, primary=True, notes="")
    pupil.change_register_status(
        **_common(),
        policy=DEFAULT,
        status=RegisterStatus.SEN_SUPPORT,
        sub_flags=(SubFlag.NSA,),
        reason="r",
        decision_maker="S",
        parents_informed_on=date(2025, 1, 10),
    )
    pupil.collect_events()
    _refused(
        pupil,
        InvalidEntry,
        "primary need of a pupil on K",
        pupil.withdraw_need,
        **_common(),
        need=NeedType.SLCN,
        reason="r",
    )


def test_only_recorded_needs_can_be_withdrawn() -> None:
    pupil = _fresh()
    _refused(
        pupil,
        InvalidEntry,
        "not a recorded need",
        pupil.withdraw_need,
        **_common(),
        need=NeedType.HI,
        reason="r",
    )


def test_corrections_point_at_an_existing_entry() -> None:
    pupil = _fresh()
    _refused(
        pupil,
        InvalidEntry,
        "there is no entry 5 to correct",
        pupil.correct_entry,
        **_common(),
        corrects_seq=5,
        what_was_wrong="w",
        correction="c",
        reason="r",
    )


def test_corrections_say_why() -> None:
    pupil = _fresh()
    _refused(
        pupil,
        InvalidEntry,
        "reason for the correction is required",
        pupil.correct_entry,
        **_common(),
        corrects_seq=1,
        what_was_wrong="w",
        correction="c",
        reason="",
    )


def test_nothing_is_added_after_a_purge() -> None:
    pupil = _fresh()
    pupil.record_purge(**_common(), proposed_by="dpo-1", approved_by="dpo-2", reason="DOB+25")
    pupil.collect_events()
    _refused(
        pupil,
        PupilPurged,
        "were purged",
        pupil.raise_concern,
        **_common(),
        source="teacher",
        area_of_need=None,
        description="x",
        evidence="",
    )


def test_a_purge_needs_two_people() -> None:
    pupil = _fresh()
    _refused(
        pupil,
        InvalidEntry,
        "two different people",
        pupil.record_purge,
        **_common(),
        proposed_by="dpo-1",
        approved_by="dpo-1",
        reason="r",
    )


def test_replay_rebuilds_the_same_state() -> None:
    pupil = a_pupil(concerns=2)
    pupil.record_need(**_common(), need=NeedType.SLCN, primary=True, notes="n")
    pupil.change_register_status(
        **_common(),
        policy=DEFAULT,
        status=RegisterStatus.SEN_SUPPORT,
        sub_flags=(SubFlag.NSA,),
        reason="r",
        decision_maker="S",
        parents_informed_on=date(2025, 1, 10),
    )
    events = pupil.collect_events()
    replayed: Any = None
    for event in events:
        replayed = event.mutate(replayed)
    assert replayed == pupil


def test_every_event_type_round_trips_through_its_payload() -> None:
    seen = set()
    for event in a_full_history().collect_events():
        cls = type(event)
        seen.add(cls)
        fields = cls.fields_from_payload(event.payload())
        for name, value in fields.items():
            assert getattr(event, name) == value, (cls.__name__, name)
    assert seen == set(EVENT_TYPES)


def test_a_full_history_replays_to_the_same_state() -> None:
    pupil = a_full_history()
    replayed: Any = None
    for event in pupil.collect_events():
        replayed = event.mutate(replayed)
    assert replayed == pupil and replayed.purged


def test_a_need_is_recorded_once_in_each_role() -> None:
    pupil = _fresh()
    pupil.record_need(**_common(), need=NeedType.SLCN, primary=True, notes="")
    _refused(
        pupil,
        InvalidEntry,
        "SLCN is already recorded as the primary need",
        pupil.record_need,
        **_common(),
        need=NeedType.SLCN,
        primary=True,
        notes="",
    )


def test_a_withdrawal_says_why() -> None:
    pupil = _fresh()
    pupil.record_need(**_common(), need=NeedType.HI, primary=False, notes="")
    _refused(
        pupil,
        InvalidEntry,
        "reason is required",
        pupil.withdraw_need,
        **_common(),
        need=NeedType.HI,
        reason=" ",
    )


def test_corrections_cannot_point_at_themselves() -> None:
    pupil = _fresh()
    _refused(
        pupil,
        UnknownEntry,
        "there is no entry 2 to correct: this record has entries 1 to 1",
        pupil.correct_entry,
        **on(date(2025, 1, 10)),
        corrects_seq=2,
        what_was_wrong="w",
        correction="c",
        reason="r",
    )


def test_payload_times_are_rfc3339_utc() -> None:
    pupil = a_pupil(concerns=0)
    (registered,) = pupil.collect_events()
    assert isinstance(registered, PupilRegistered)
    assert registered.payload()["recorded_at"] == "2025-03-03T10:00:00.000000Z"
    assert datetime.fromisoformat(registered.payload()["recorded_at"]) == RECORDED_AT.astimezone(
        UTC
    )


def test_add_concern_helper_produces_an_event() -> None:
    pupil = _fresh()
    add_concern(pupil)
    assert len(pupil.collect_events()) == 1
