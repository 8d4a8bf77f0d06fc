"""One example request per command of `api.http.commands.COMMANDS`: what to put on a fresh
pupil first, a body the record accepts, and a body (or history) its rules refuse.

Shared by the per-command tests (test_commands.py) and the permission matrix
(test_permissions.py). Prepared steps are dated in 2025; HTTP entries default to today.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from domain.pupil import Pupil
from domain.values import AgreementKind, NeedType, RegisterStatus, year_group_on
from tests.factories import (
    DEFAULT,
    REGISTERED,
    a_pupil,
    agree,
    decide_assessment,
    hold_review,
    issue_plan,
    move,
    on,
    primary_need,
    request_assessment,
    schedule_review,
    sign,
)
from tests.http.conftest import Api

Body = dict[str, Any]
Prepare = Callable[[Pupil], Body]  # steps on the pupil; returns fields to add to the body


def today() -> date:
    return datetime.now(UTC).date()


def _nothing(pupil: Pupil) -> Body:
    return {}


def _secondary_semh(pupil: Pupil) -> Body:
    pupil.record_need(need=NeedType.SEMH, primary=False, notes="Anxiety", **on(date(2025, 2, 3)))
    return {}


def _primary_slcn(pupil: Pupil) -> Body:
    primary_need(pupil, date(2025, 2, 3))
    return {}


def _sharing_agreed(pupil: Pupil) -> Body:
    sign(pupil, date(2025, 2, 3), AgreementKind.INFORMATION_SHARING)
    return {}


def _a_plan(pupil: Pupil) -> Body:
    return {"plan_id": str(agree(pupil, date(2025, 2, 10)))}


def _assessment(pupil: Pupil) -> Body:
    request_assessment(pupil, date(2025, 2, 10))
    return {}


def _ehc_plan(pupil: Pupil) -> Body:
    request_assessment(pupil, date(2025, 2, 10))
    issue_plan(pupil, date(2025, 2, 24))
    return {}


def _review_arranged(pupil: Pupil) -> Body:
    _ehc_plan(pupil)
    schedule_review(pupil, date(2025, 3, 3), date(2025, 3, 24))
    return {}


def _review_arranged_ahead(pupil: Pupil) -> Body:
    """A meeting arranged for three weeks from today, so papers can go out today."""
    _ehc_plan(pupil)
    schedule_review(pupil, date(2025, 3, 3), today() + timedelta(days=21))
    return {}


def _check(ok: bool) -> None:
    assert ok


def _review_held(pupil: Pupil) -> Body:
    _review_arranged(pupil)
    hold_review(pupil, date(2025, 3, 24))
    return {}


def _la_asked(pupil: Pupil) -> Body:
    request_assessment(pupil, date(2025, 2, 10))
    pupil.record_la_information_request(
        policy=DEFAULT,
        local_authority="Shire CC",
        information_requested="Plans and reviews",
        **on(date(2025, 2, 17)),
    )
    return {"answers_seq": pupil.version}


def _assessing(pupil: Pupil) -> Body:
    request_assessment(pupil, date(2025, 2, 10))
    decide_assessment(pupil, date(2025, 3, 17))
    return {}


def _on_monitoring(pupil: Pupil) -> Body:
    move(pupil, date(2025, 2, 10), RegisterStatus.MONITORING)
    return {}


def _a_subject_access_request(pupil: Pupil) -> Body:
    pupil.request_subject_access(
        request_reference="SAR-2026-020", requester_relationship="parent", **on(today())
    )
    return {"request_seq": pupil.version}


def _left(pupil: Pupil) -> Body:
    pupil.leave_trust(
        policy=DEFAULT,
        destination="Birch Academy",
        records_sent_on=date(2025, 2, 28),
        receipt_acknowledged_on=None,
        receipt_acknowledged_by=None,
        **on(date(2025, 2, 28)),
    )
    return {}


def _letter(**more: Any) -> Body:
    return {"local_authority": "Shire CC", "letter_dated": today().isoformat(), **more}


def _a_hold(pupil: Pupil) -> Body:
    pupil.place_legal_hold(reason="Claim", requested_by="Solicitor", **on(date(2025, 3, 1)))
    return {}


@dataclass(frozen=True)
class Refusal:
    """A request the record's rules refuse: 422, `error` names the rule, `says` in detail."""

    body: Body
    error: str
    says: str
    prepare: Prepare = _nothing


@dataclass(frozen=True)
class Example:
    slug: str
    event: str
    body: Callable[[], Body]  # a body the record accepts once `prepare` has run
    refusal: Refusal
    prepare: Prepare = _nothing
    check: Callable[[dict[str, Any]], None] = field(default=lambda payload: None)
    role: str = "sendco"  # who adds it (the first role the catalogue lets add it)


def _year_now() -> int:
    """The year group today of a pupil from `a_pupil` (registered in Year 4)."""
    return year_group_on(4, REGISTERED, date.today())


def _later(days: int) -> str:
    return (today() + timedelta(days=days)).isoformat()


def _plan_body() -> Body:
    return {
        "kind": "individual_plan",
        "outcomes": [
            {"target": "Reads 40 CVC words", "measure": "Phonics check", "by_when": _later(60)}
        ],
        "provision": "Daily phonics group",
        "agreed_by": ["parent", "sendco"],
    }


def _review_body() -> Body:
    return {
        "outcomes": [
            {"target": "Blends CVC words", "outcome": "achieved"},
            {"target": "Follows two-part instructions", "outcome": "not_yet"},
        ],
        "pupil_voice": "I like the group",
        "parent_voice": "Reading more at home",
        "next_steps": "Keep the group",
        "next_review_on": _later(90),
    }


EXAMPLES: tuple[Example, ...] = (
    Example(
        "concerns",
        "ConcernRaised",
        lambda: {
            "source": "parent",
            "area_of_need": "social_emotional_mental_health",
            "description": "Not sleeping before tests",
        },
        Refusal(
            {"source": "parent", "description": "   "},
            "invalid_entry",
            "description of the concern is required",
        ),
    ),
    Example(
        "register-status",
        "RegisterStatusChanged",
        lambda: {"status": "monitoring", "reason": "Persisting concern", "decision_maker": "S1"},
        Refusal(
            {"status": "sen_support", "reason": "Jump", "decision_maker": "S1"},
            "transition_not_allowed",
            "sen_support (census K) needs a primary need",
        ),
    ),
    Example(
        "needs",
        "NeedRecorded",
        lambda: {"need": "SLCN", "primary": True, "notes": "SALT screen"},
        Refusal(
            {"need": "SLCN", "primary": True},
            "invalid_entry",
            "SLCN is already recorded as the primary need",
            _primary_slcn,
        ),
        check=lambda p: _equal(p, need="SLCN", primary=True),
    ),
    Example(
        "need-withdrawals",
        "NeedWithdrawn",
        lambda: {"need": "SEMH", "reason": "Anxiety eased"},
        Refusal(
            {"need": "ASD", "reason": "Not so"},
            "invalid_entry",
            "ASD is not a recorded need of this pupil",
        ),
        _secondary_semh,
    ),
    Example(
        "corrections",
        "EntryCorrected",
        lambda: {"corrects_seq": 2, "what_was_wrong": "Wrong week", "reason": "Checked notes"},
        Refusal(
            {"corrects_seq": 99, "what_was_wrong": "x", "reason": "y"},
            "unknown_entry",
            "there is no entry 99 to correct",
        ),
        check=lambda p: _equal(p, corrects_seq=2),
    ),
    Example(
        "plans",
        "PlanAgreed",
        _plan_body,
        Refusal(
            {**_plan_body(), "outcomes": []}, "invalid_entry", "needs at least one SMART outcome"
        ),
        check=lambda p: _equal(p, kind="individual_plan"),
    ),
    Example(
        "plan-reviews",
        "PlanReviewed",
        _review_body,
        Refusal({**_review_body(), "plan_id": str(uuid4())}, "unknown_entry", "there is no plan"),
        _a_plan,
    ),
    Example(
        "agencies",
        "ExternalAgencyInvolved",
        lambda: {"agency": "camhs", "service": "Shire CAMHS", "reason": "Low mood"},
        Refusal(
            {"agency": "camhs", "service": " ", "reason": "Low mood"},
            "invalid_entry",
            "the service involved is required",
        ),
    ),
    Example(
        "advice",
        "AdviceReceived",
        lambda: {
            "agency": "educational_psychologist",
            "service": "Shire EPS",
            "summary": "Working memory a weakness",
            "recommendations": ["Chunk tasks"],
        },
        Refusal(
            {"agency": "educational_psychologist", "service": "Shire EPS", "summary": " "},
            "invalid_entry",
            "a summary of the advice is required",
        ),
        check=lambda p: _equal(p, recommendations=["Chunk tasks"]),
    ),
    Example(
        "ehc-assessment-requests",
        "EHCNeedsAssessmentRequested",
        lambda: {"local_authority": "Shire CC", "requested_by": "parent", "reason": "Needs"},
        Refusal(
            {
                "local_authority": "Shire CC",
                "requested_by": "parent",
                "reason": "Needs",
                "happened_on": "2010-01-01",
            },
            "date_out_of_range",
            "before the pupil's date of birth",
        ),
    ),
    Example(
        "la-information-requests",
        "LAInformationRequested",
        lambda: {"local_authority": "Shire CC", "information_requested": "Plans and reviews"},
        Refusal(
            {"local_authority": "Shire CC", "information_requested": "Plans"},
            "out_of_order",
            "record EHCNeedsAssessmentRequested first",
        ),
        _assessment,
    ),
    Example(
        "la-information-sent",
        "LAInformationProvided",
        lambda: {"information_sent": "Plans and reviews"},
        Refusal(
            {"answers_seq": 1, "information_sent": "Plans"},
            "unknown_entry",
            "entry 1 is not an LA information request",
        ),
        _la_asked,
    ),
    Example(
        "ehc-assessment-decisions",
        "EHCAssessmentDecided",
        lambda: _letter(decision="not_assess"),
        Refusal(_letter(decision="assess"), "out_of_order", "EHCNeedsAssessmentRequested first"),
        _assessment,
        check=lambda payload: _check(payload["appeal_by"] is not None),
    ),
    Example(
        "ehc-issue-decisions",
        "EHCPlanDecided",
        lambda: _letter(decision="issue", la_reference="SCC-1"),
        Refusal(_letter(decision="issue"), "out_of_order", "decision to assess", _assessment),
        _assessing,
    ),
    Example(
        "draft-ehc-plans",
        "DraftEHCPlanReceived",
        lambda: _letter(setting_named="Oak Primary"),
        Refusal(_letter(), "out_of_order", "decision to assess", _assessment),
        _assessing,
    ),
    Example(
        "ehc-plans",
        "EHCPlanIssued",
        lambda: {
            "local_authority": "Shire CC",
            "plan_reference": "EHCP-1",
            "named_setting": "Oak Primary",
        },
        Refusal(
            {
                "local_authority": "Shire CC",
                "plan_reference": "EHCP-1",
                "named_setting": "Oak Primary",
            },
            "out_of_order",
            "an EHC plan follows an EHC needs assessment",
        ),
        _assessment,
    ),
    Example(
        "annual-reviews",
        "AnnualReviewScheduled",
        lambda: {
            "meeting_on": _later(21),
            "invitees": ["Parent", "LA officer"],
            "notice_given_on": today().isoformat(),
        },
        Refusal(
            {
                "meeting_on": _later(3),
                "invitees": ["Parent"],
                "notice_given_on": today().isoformat(),
            },
            "not_allowed_by_policy",
            "days' notice of an annual review",
            _ehc_plan,
        ),
        _ehc_plan,
    ),
    Example(
        "annual-review-papers",
        "AnnualReviewPapersCirculated",
        lambda: {"circulated_to": ["Parent", "Shire CC"]},
        Refusal(
            {"circulated_to": ["Parent"]}, "out_of_order", "AnnualReviewScheduled first", _ehc_plan
        ),
        _review_arranged_ahead,
    ),
    Example(
        "annual-review-meetings",
        "AnnualReviewHeld",
        lambda: {
            "attendees": ["Parent", "SENDCo"],
            "pupil_voice": "Likes the quiet room",
            "parent_voice": "Happy",
            "recommendation": "amend",
        },
        Refusal(
            {
                "attendees": ["Parent"],
                "pupil_voice": "x",
                "parent_voice": "y",
                "recommendation": "amend",
            },
            "out_of_order",
            "record AnnualReviewScheduled first",
            _ehc_plan,
        ),
        _review_arranged,
    ),
    Example(
        "annual-review-reports",
        "AnnualReviewReportSent",
        lambda: {"sent_to": ["Shire CC", "Parent"], "summary": "Maintain the plan"},
        Refusal(
            {"sent_to": ["Shire CC"], "summary": "Maintain"},
            "out_of_order",
            "record AnnualReviewHeld first",
            _review_arranged,
        ),
        _review_held,
    ),
    Example(
        "annual-review-decisions",
        "AnnualReviewDecided",
        lambda: _letter(decision="amend"),
        Refusal(_letter(decision="amend"), "out_of_order", "AnnualReviewHeld first"),
        _review_held,
        check=lambda payload: _check(payload["amended_plan_by"] is not None),
    ),
    Example(
        "ehc-plan-amendments",
        "EHCPlanAmended",
        lambda: {"local_authority": "Shire CC", "changes": "Section F", "reason": "Review"},
        Refusal(
            {"local_authority": "Shire CC", "changes": "F", "reason": "Review"},
            "out_of_order",
            "needs an EHC plan in force",
        ),
        _ehc_plan,
    ),
    Example(
        "ehc-plan-cessations",
        "EHCPlanCeased",
        lambda: {"local_authority": "Shire CC", "reason": "Outcomes achieved"},
        Refusal(
            {"local_authority": "Shire CC", "reason": "Done"},
            "out_of_order",
            "needs an EHC plan in force",
        ),
        _ehc_plan,
    ),
    Example(
        "safeguarding-cross-references",
        "SafeguardingCrossReferenced",
        lambda: {
            "cpoms_log_id": "CP-00077",
            "note": "Logged on CPOMS; ask the DSL",
            "dsl_decision": "monitor_in_school",
            "decided_by": "OAK-dsl-1",
        },
        Refusal(
            {
                "cpoms_log_id": "CP-00077",
                "note": "Logged on CPOMS",
                "dsl_decision": "monitor_in_school",
            },
            "not_allowed_by_policy",
            "name the DSL who decided",
        ),
    ),
    Example(
        "parental-agreements",
        "ParentalAgreementSigned",
        lambda: {
            "agreement": "information_sharing",
            "signed_by": "Mother",
            "relationship": "Parent",
        },
        Refusal(
            {
                "agreement": "information_sharing",
                "signed_by": "Mother",
                "relationship": "Parent",
                "valid_until": "2025-01-01",
            },
            "date_out_of_range",
            "the end of the agreement",
        ),
    ),
    Example(
        "exam-access-arrangements",
        "ExamAccessArrangementGranted",
        lambda: {
            "arrangements": ["extra_time", "reader"],
            "for_assessments": "KS2 SATs",
            "evidence": "Reading score 79",
        },
        Refusal(
            {
                "arrangements": ["reader", "reader"],
                "for_assessments": "KS2 SATs",
                "evidence": "Score",
            },
            "invalid_entry",
            "list each arrangement granted once",
        ),
    ),
    Example(
        "transitions",
        "TransitionPlanned",
        lambda: {
            "transition": "phase_transfer",
            "to_setting": "Elm Secondary",
            "planned_for": _later(200),
            "information_shared": "One-page profile",
        },
        Refusal(
            {
                "transition": "phase_transfer",
                "to_setting": "Elm Secondary",
                "planned_for": "2025-01-06",
                "information_shared": "One-page profile",
            },
            "date_out_of_range",
            "before the day it was planned",
        ),
        _sharing_agreed,
    ),
    Example(
        "transfers",
        "TransferredWithinTrust",
        lambda: {"to_academy": "ELM", "reason": "Family moved"},
        Refusal(
            {"to_academy": "OAK", "reason": "Family moved"},
            "invalid_entry",
            "the pupil is already at OAK",
        ),
        check=lambda p: _equal(p, from_academy="OAK", to_academy="ELM"),
    ),
    Example(
        "departures",
        "LeftTrust",
        lambda: {"destination": "Birch Academy", "records_sent_on": today().isoformat()},
        Refusal(
            {
                "destination": "Birch Academy",
                "receipt_acknowledged_on": "2025-03-01",
                "receipt_acknowledged_by": "Birch office",
            },
            "invalid_entry",
            "receipt can be acknowledged only for records sent",
        ),
    ),
    Example(
        "rejoinings",
        "PupilRejoined",
        lambda: {"academy": "OAK", "year_group": 5, "returned_from": "Birch Academy"},
        Refusal(
            {"academy": "OAK", "year_group": 5, "returned_from": "Birch Academy"},
            "out_of_order",
            "a re-joining follows LeftTrust",
        ),
        _left,
    ),
    Example(
        "year-groups",
        "YearGroupChanged",
        lambda: {"year_group": _year_now() - 1, "reason": "Kept back a year after long absence"},
        Refusal(
            {"year_group": _year_now(), "reason": "No change"},
            "invalid_entry",
            "already in year group",
        ),
    ),
    Example(
        "key-workers",
        "KeyWorkerAssigned",
        lambda: {"key_worker": "OAK-dsl-1"},
        Refusal(
            {"key_worker": "nobody-here"}, "invalid_entry", "must be the staff id of a current"
        ),
    ),
    Example(
        "monitoring-reviews",
        "MonitoringReviewed",
        lambda: {"findings": "Progress in reading; stays on monitoring"},
        Refusal({"findings": "Fine"}, "out_of_order", "not on the monitoring register"),
        _on_monitoring,
    ),
)

# The DPO's entries (retention and data-protection rights).
EXAMPLES += (
    Example(
        "legal-holds",
        "LegalHoldPlaced",
        lambda: {"reason": "Tribunal appeal pending", "requested_by": "Trust solicitor"},
        Refusal(
            {"reason": "   ", "requested_by": "Trust solicitor"},
            "invalid_entry",
            "the reason for the hold",
        ),
        role="dpo",
    ),
    Example(
        "legal-holds/release",
        "LegalHoldLifted",
        lambda: {"reason": "Appeal concluded"},
        Refusal({"reason": "Appeal concluded"}, "invalid_entry", "no legal hold in force"),
        _a_hold,
        role="dpo",
    ),
    Example(
        "subject-access-requests",
        "SubjectAccessRequested",
        lambda: {"request_reference": "SAR-2026-014", "requester_relationship": "parent"},
        Refusal(
            {
                "request_reference": "SAR-2026-015",
                "requester_relationship": "parent",
                "received_on": _later(30),
            },
            "date_out_of_range",
            "future",
        ),
        role="dpo",
    ),
    Example(
        "subject-access-extensions",
        "SubjectAccessExtended",
        lambda: {"reason": "Records across two academies and three agencies"},
        Refusal(
            {"request_seq": 1, "reason": "Complex"},
            "unknown_entry",
            "not a subject access request",
        ),
        _a_subject_access_request,
        role="dpo",
    ),
    Example(
        "erasure-refusals",
        "ErasureRequestRefused",
        lambda: {
            "entry_seq": 2,
            "request_reference": "ER-2026-003",
            "requester_relationship": "parent",
            "reason": "Statutory SEND record",
            "legal_basis": "UK GDPR art. 17(3)(b)",
        },
        Refusal(
            {
                "entry_seq": 99,
                "request_reference": "ER-2026-004",
                "requester_relationship": "parent",
                "reason": "Statutory SEND record",
                "legal_basis": "UK GDPR art. 17(3)(b)",
            },
            "unknown_entry",
            "99",
        ),
        role="dpo",
    ),
)

BY_SLUG = {e.slug: e for e in EXAMPLES}


def _equal(payload: dict[str, Any], **expected: Any) -> None:
    for key, value in expected.items():
        assert payload[key] == value, (key, payload[key], value)


def prepared(
    api: Api, prepare: Prepare, academy: str = "OAK", family: str = "Quartermaine"
) -> tuple[Pupil, Body]:
    """A fresh pupil (registered, one concern) with `prepare`'s steps, saved."""
    pupil = a_pupil(family=family, academy=academy)
    extra = prepare(pupil)
    api.records.save(pupil)
    return pupil, extra


def post(api: Api, headers: dict[str, str], pupil_id: UUID, slug: str, body: Body) -> Any:
    return api.client.post(
        f"/pupils/{pupil_id}/{slug}",
        headers={**headers, "If-Match": str(api.version(pupil_id))},
        json=body,
    )


__all__ = ["BY_SLUG", "DEFAULT", "EXAMPLES", "Example", "Refusal", "post", "prepared", "today"]
