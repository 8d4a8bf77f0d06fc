"""Agencies, agreements, exam access, moves, legal holds, disclosures and the purge."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.errors import (
    DateOutOfRange,
    InvalidEntry,
    LegalHoldInForce,
    NotAllowedByPolicy,
    PupilLeftTrust,
    UnknownEntry,
)
from domain.events import (
    ExamAccessArrangementGranted,
    LeftTrust,
    ParentalAgreementSigned,
    TransitionPlanned,
)
from domain.policy import TrustPolicy
from domain.pupil import Pupil
from domain.values import (
    AgencyKind,
    AgreementKind,
    DisclosurePurpose,
    ExamArrangement,
    TransitionKind,
)
from tests.factories import (
    DEFAULT,
    DIGEST,
    DPO,
    a_pupil,
    add_concern,
    issue_plan,
    on,
    policy,
    refused,
    request_assessment,
    sign,
)

DAY = date(2025, 2, 3)
ASPIRE, INSPIRE, HARMONY = policy("aspire"), policy("inspire"), policy("harmony")


def _pupil() -> Pupil:
    pupil = a_pupil(concerns=0)
    pupil.collect_events()
    return pupil


# ----- agencies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "what"),
    [("service", "the service involved"), ("reason", "the reason for involving the service")],
)
def test_an_involvement_names_the_service_and_why(field: str, what: str) -> None:
    pupil = _pupil()
    args = {"agency": AgencyKind.CAMHS, "service": "CAMHS", "professional": None}
    refused(
        pupil,
        InvalidEntry,
        f"{what} is required",
        pupil.involve_agency,
        **(args | {"reason": "Low mood"} | {field: ""} | on(DAY)),
    )


def test_advice_has_a_summary() -> None:
    pupil = _pupil()
    refused(
        pupil,
        InvalidEntry,
        "a summary of the advice is required",
        pupil.receive_advice,
        agency=AgencyKind.OCCUPATIONAL_THERAPY,
        service="Northshire OT",
        professional=None,
        summary="",
        recommendations=(),
        **on(DAY),
    )


# ----- parental agreements ------------------------------------------------------------------


def _agreement(trust: TrustPolicy = DEFAULT, **kw: Any) -> dict[str, Any]:
    return (
        {
            "policy": trust,
            "agreement": AgreementKind.SEND_SUPPORT,
            "signed_by": "Mr Ambrose Quartermaine",
            "relationship": "father",
            "valid_until": None,
            "notes": "",
        }
        | on(DAY)
        | kw
    )


def test_harmony_agreements_last_a_year() -> None:
    pupil = _pupil()
    pupil.sign_parental_agreement(**_agreement(HARMONY))
    (event,) = pupil.collect_events()
    assert isinstance(event, ParentalAgreementSigned)
    assert event.valid_until == date(2026, 2, 3)
    assert pupil.agreed(AgreementKind.SEND_SUPPORT, date(2026, 2, 3))
    assert not pupil.agreed(AgreementKind.SEND_SUPPORT, date(2026, 2, 4))


def test_an_agreement_ends_after_it_was_signed() -> None:
    pupil = _pupil()
    refused(
        pupil,
        DateOutOfRange,
        "the end of the agreement is 2025-01-01: it must be after the day it was signed",
        pupil.sign_parental_agreement,
        **_agreement(valid_until=date(2025, 1, 1)),
    )


def test_an_agreement_names_who_signed() -> None:
    pupil = _pupil()
    refused(
        pupil,
        InvalidEntry,
        "who signed is required",
        pupil.sign_parental_agreement,
        **_agreement(signed_by=" "),
    )


# ----- exam access ----------------------------------------------------------------------------


def _exam(trust: TrustPolicy, day: date, **kw: Any) -> dict[str, Any]:
    return (
        {
            "policy": trust,
            "arrangements": (ExamArrangement.EXTRA_TIME,),
            "for_assessments": "Key stage 2 tests",
            "evidence": "Processing speed score 79",
        }
        | on(day)
        | kw
    )


def test_aspire_arrangements_lapse_on_entry_to_year_7() -> None:
    pupil = _pupil()  # year 4 in September 2024, so year 6 from September 2026
    pupil.grant_exam_access(**_exam(ASPIRE, date(2026, 10, 5)))
    (event,) = pupil.collect_events()
    assert isinstance(event, ExamAccessArrangementGranted)
    assert event.lapses_on == date(2027, 9, 1)


def test_arrangements_carry_on_where_the_policy_sets_no_lapse() -> None:
    pupil = _pupil()
    pupil.grant_exam_access(**_exam(DEFAULT, date(2026, 10, 5)))
    (event,) = pupil.collect_events()
    assert isinstance(event, ExamAccessArrangementGranted) and event.lapses_on is None


@pytest.mark.parametrize("arrangements", [(), (ExamArrangement.READER, ExamArrangement.READER)])
def test_each_arrangement_is_listed_once(arrangements: tuple[ExamArrangement, ...]) -> None:
    pupil = _pupil()
    refused(
        pupil,
        InvalidEntry,
        "list each arrangement granted once",
        pupil.grant_exam_access,
        **_exam(DEFAULT, DAY, arrangements=arrangements),
    )


# ----- transitions, transfers, leaving ------------------------------------------------------


def _transition(trust: TrustPolicy, **kw: Any) -> dict[str, Any]:
    return (
        {
            "policy": trust,
            "transition": TransitionKind.PHASE_TRANSFER,
            "to_setting": "Riverside Academy",
            "planned_for": date(2026, 9, 3),
            "information_shared": "One-page profile and latest review",
        }
        | on(DAY)
        | kw
    )


def test_inspire_agrees_what_is_shared_with_parents_first() -> None:
    pupil = _pupil()
    refused(
        pupil,
        NotAllowedByPolicy,
        r"record ParentalAgreementSigned \(information_sharing\) first",
        pupil.plan_transition,
        **_transition(INSPIRE),
    )
    sign(pupil, DAY, AgreementKind.INFORMATION_SHARING, policy=INSPIRE)
    pupil.plan_transition(**_transition(INSPIRE))
    assert pupil.kinds[-1] == "TransitionPlanned"


def test_a_move_is_not_before_it_was_planned() -> None:
    pupil = _pupil()
    refused(
        pupil,
        DateOutOfRange,
        "the move is 2025-01-01, before the day it was planned",
        pupil.plan_transition,
        **_transition(DEFAULT, planned_for=date(2025, 1, 1)),
    )


def test_a_phase_transfer_with_an_ehc_plan_gets_the_amendment_date() -> None:
    pupil = _pupil()
    issue_plan(pupil, date(2025, 1, 6), transferred_from="Westmoor Primary")
    pupil.plan_transition(**_transition(DEFAULT))
    pupil.plan_transition(**_transition(DEFAULT, transition=TransitionKind.POST16))
    pupil.plan_transition(**_transition(DEFAULT, planned_for=date(2026, 1, 5)))
    events = pupil.collect_events()[1:]
    due = [e.ehcp_review_by for e in events if isinstance(e, TransitionPlanned)]
    assert due == [date(2026, 2, 15), date(2026, 3, 31), date(2025, 2, 15)]


def test_a_transfer_goes_to_another_academy() -> None:
    pupil = _pupil()
    refused(
        pupil,
        InvalidEntry,
        "the pupil is already at OAK",
        pupil.transfer_within_trust,
        to_academy="OAK",
        reason="r",
        **on(DAY),
    )


def test_a_transfer_changes_the_current_academy() -> None:
    pupil = _pupil()
    pupil.transfer_within_trust(to_academy="RIV", reason="Year 7", **on(DAY))
    assert pupil.academy == "RIV"


def _leave(**kw: Any) -> dict[str, Any]:
    return (
        {
            "policy": DEFAULT,
            "destination": "Westmoor Academy",
            "records_sent_on": DAY,
            "receipt_acknowledged_on": None,
            "receipt_acknowledged_by": None,
        }
        | on(DAY)
        | kw
    )


def _left() -> Pupil:
    pupil = _pupil()
    pupil.leave_trust(**_leave())
    pupil.collect_events()
    return pupil


def test_records_are_due_at_the_next_school_in_five_school_days() -> None:
    pupil = _pupil()
    pupil.leave_trust(**_leave() | on(date(2025, 2, 6)))  # a Thursday
    (event,) = pupil.collect_events()
    assert isinstance(event, LeftTrust) and event.records_due_by == date(2025, 2, 13)


def test_nothing_new_is_recorded_after_leaving() -> None:
    pupil = _left()
    refused(
        pupil,
        PupilLeftTrust,
        r"the pupil left the trust on 2025-02-03 \(Westmoor Academy\): a ConcernRaised cannot "
        "be added",
        lambda: add_concern(pupil),
    )


def test_leaving_completes_the_transfer_details_for_the_same_destination() -> None:
    pupil = _left()
    later = on(DAY + timedelta(days=3))
    ack = {"receipt_acknowledged_on": DAY + timedelta(days=3), "receipt_acknowledged_by": "Head"}
    refused(
        pupil,
        InvalidEntry,
        "already left the trust on 2025-02-03 for Westmoor Academy",
        pupil.leave_trust,
        **_leave(destination="Eastbrook School") | later | ack,
    )
    pupil.leave_trust(**_leave() | later | ack)
    assert pupil.left is not None and pupil.left.left_on == DAY


def test_receipt_names_who_and_when() -> None:
    pupil = _pupil()
    refused(
        pupil,
        InvalidEntry,
        "give both the date receipt was acknowledged and who acknowledged it, or neither",
        pupil.leave_trust,
        **_leave(receipt_acknowledged_on=DAY),
    )


def test_receipt_needs_records_sent() -> None:
    pupil = _pupil()
    refused(
        pupil,
        InvalidEntry,
        "receipt can be acknowledged only for records sent: give the date sent",
        pupil.leave_trust,
        **_leave(records_sent_on=None, receipt_acknowledged_on=DAY, receipt_acknowledged_by="H"),
    )


def test_receipt_is_not_before_the_records_were_sent() -> None:
    pupil = _pupil()
    refused(
        pupil,
        DateOutOfRange,
        "the acknowledgement is 2025-02-02, before the records were sent",
        pupil.leave_trust,
        **_leave(receipt_acknowledged_on=DAY - timedelta(days=1), receipt_acknowledged_by="H"),
    )


# ----- legal holds, disclosure, purge -----------------------------------------------------------


def _hold(pupil: Pupil) -> UUID:
    return pupil.place_legal_hold(reason="Claim notified", requested_by="Solicitor", **on(DAY, DPO))


def test_a_hold_stops_the_purge() -> None:
    pupil = _pupil()
    _hold(pupil)
    pupil.collect_events()
    refused(
        pupil,
        LegalHoldInForce,
        r"1 legal hold\(s\) in force since 2025-02-03: the records cannot be purged",
        pupil.record_purge,
        proposed_by="dpo-1",
        approved_by="dpo-2",
        reason="DOB + 25",
        **on(DAY, DPO),
    )


def test_the_purge_proceeds_once_holds_are_lifted() -> None:
    pupil = _pupil()
    hold = _hold(pupil)
    pupil.lift_legal_hold(hold_id=hold, reason="Claim settled", **on(DAY, DPO))
    pupil.record_purge(proposed_by="a", approved_by="b", reason="DOB + 25", **on(DAY, DPO))
    assert pupil.purged


def test_only_a_hold_in_force_is_lifted() -> None:
    pupil = _pupil()
    refused(
        pupil,
        UnknownEntry,
        "there is no legal hold 00000000-0000-0000-0000-000000000007 in force",
        pupil.lift_legal_hold,
        hold_id=UUID(int=7),
        reason="r",
        **on(DAY, DPO),
    )


def test_a_hold_id_is_used_once() -> None:
    pupil = _pupil()
    hold = _hold(pupil)
    refused(
        pupil,
        InvalidEntry,
        "is already in force",
        pupil.place_legal_hold,
        reason="r",
        requested_by="s",
        hold_id=hold,
        **on(DAY, DPO),
    )


def _disclosure(trust: TrustPolicy = DEFAULT, **kw: Any) -> dict[str, Any]:
    return (
        {
            "policy": trust,
            "recipient": "Westmoor Academy headteacher",
            "purpose": DisclosurePurpose.OTHER,
            "purpose_detail": "Admission enquiry",
            "legal_basis": "UK GDPR art. 6(1)(e)",
            "up_to_seq": 1,
            "redacted_seqs": (),
            "export_digest": DIGEST,
        }
        | on(DAY, DPO)
        | kw
    )


@pytest.mark.parametrize("digest", [DIGEST.upper(), DIGEST[:-1], "sha256:" + DIGEST])
def test_the_digest_is_lower_case_sha256_hex(digest: str) -> None:
    pupil = _pupil()
    refused(
        pupil,
        InvalidEntry,
        "must be a SHA-256 digest in lower-case hex",
        pupil.record_disclosure,
        **_disclosure(export_digest=digest),
    )


def test_a_disclosure_covers_entries_that_exist() -> None:
    pupil = _pupil()
    refused(
        pupil,
        UnknownEntry,
        "covers entries up to 2, but this record has entries 1 to 1",
        pupil.record_disclosure,
        **_disclosure(up_to_seq=2),
    )


@pytest.mark.parametrize(
    ("redacted", "match"), [((2,), "redacted entry 2 is not among"), ((1, 1), "once")]
)
def test_redactions_are_among_the_disclosed_entries(redacted: tuple[int, ...], match: str) -> None:
    pupil = _pupil()
    refused(
        pupil, InvalidEntry, match, pupil.record_disclosure, **_disclosure(redacted_seqs=redacted)
    )


def test_an_other_purpose_is_explained() -> None:
    pupil = _pupil()
    refused(
        pupil,
        InvalidEntry,
        r"the purpose \(purpose_detail\) is required",
        pupil.record_disclosure,
        **_disclosure(purpose_detail=""),
    )


def _with_ehc_plan() -> Pupil:
    pupil = _pupil()
    request_assessment(pupil, date(2025, 1, 6))
    issue_plan(pupil, date(2025, 1, 20))  # entry 3
    pupil.collect_events()
    return pupil


def test_aspire_discloses_an_ehc_plan_only_with_consent() -> None:
    pupil = _with_ehc_plan()
    refused(
        pupil,
        NotAllowedByPolicy,
        "discloses an EHC plan only with parents' consent or for a purpose its policy lists",
        pupil.record_disclosure,
        **_disclosure(ASPIRE, up_to_seq=3),
    )


@pytest.mark.parametrize(
    "change",
    [
        {"purpose": DisclosurePurpose.NEXT_SETTING_HEADTEACHER},
        {"redacted_seqs": (3,)},
        {"purpose": DisclosurePurpose.SUBJECT_ACCESS},
    ],
    ids=["listed purpose", "plan redacted", "to the family"],
)
def test_aspire_discloses_an_ehc_plan_for_a_listed_purpose_or_redacted(
    change: dict[str, Any],
) -> None:
    pupil = _with_ehc_plan()
    pupil.record_disclosure(**_disclosure(ASPIRE, up_to_seq=3) | change)
    assert pupil.kinds[-1] == "RecordsDisclosed"


def test_aspire_discloses_an_ehc_plan_with_parents_consent() -> None:
    pupil = _with_ehc_plan()
    sign(pupil, DAY, AgreementKind.EHCP_DISCLOSURE, policy=ASPIRE)
    pupil.record_disclosure(**_disclosure(ASPIRE, up_to_seq=3))
    assert pupil.kinds[-1] == "RecordsDisclosed"


def test_other_trusts_disclose_without_the_extra_consent() -> None:
    pupil = _with_ehc_plan()
    pupil.record_disclosure(**_disclosure(DEFAULT, up_to_seq=3))
    assert pupil.kinds[-1] == "RecordsDisclosed"


def test_record_keeping_goes_on_after_leaving() -> None:
    pupil = _left()
    hold = _hold(pupil)
    pupil.record_disclosure(**_disclosure(up_to_seq=2))
    pupil.correct_entry(
        corrects_seq=2,
        what_was_wrong="Destination",
        correction="Eastbrook",
        reason="Letter",
        **on(DAY),
    )
    pupil.lift_legal_hold(hold_id=hold, reason="Settled", **on(DAY, DPO))
    pupil.record_purge(proposed_by="a", approved_by="b", reason="DOB + 25", **on(DAY, DPO))
    assert pupil.kinds[-5:] == [
        "LegalHoldPlaced",
        "RecordsDisclosed",
        "EntryCorrected",
        "LegalHoldLifted",
        "RecordsPurged",
    ]
