"""Statutory and local deadlines: what is due, and what is overdue, per academy and person.

Each deadline is opened by one entry (`opened_seq`) under one rule, and closed by a later
entry that meets it (or makes it moot: the plan closed, the EHC plan ceased, the pupil
left). Where an entry carries its own due date (`respond_by`, `report_due_by`,
`records_due_by`, ...), that date is used: the domain computed it from the trust's policy
on the day, and it is the date a tribunal sees on the entry. The policy (`records.policy`)
supplies the rules no entry carries: invitation notice before an annual review, the
phase-transfer amendment date from the pupil's year group, and the fallbacks for entries
written without a date.

No plaintext: ids, rule codes, academy codes, staff ids and dates only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import (
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    or_,
    select,
)
from sqlalchemy.orm import Session

from domain.policy import TrustPolicy
from domain.statute import (
    ASSESSMENT_DECISION_WEEKS,
    FINAL_PLAN_WEEKS,
    ISSUE_DECISION_WEEKS,
    REVIEW_DECISION_WEEKS,
    weeks_after,
)
from domain.values import add_months, school_year
from projections.base import ProjectedEvent
from projections.bulk import PupilRows
from projections.ports import ReadStore
from projections.runner import ProjectionError, resumed_pupils

metadata = MetaData()
deadline_pupils = Table(
    "deadline_pupils",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("academy", String(40), nullable=False),
    Column("year_group", Integer, nullable=False),  # as of registered_on (or its change)
    Column("registered_on", Date, nullable=False),
)
deadlines = Table(
    "deadlines",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("opened_seq", Integer, primary_key=True, autoincrement=False),
    Column("rule", String(32), primary_key=True),
    # What a closing entry matches on: a plan id, an agreement kind, a due date, "ehcp".
    Column("subject", String(64), primary_key=True),
    Column("detail", String(40), nullable=True),  # a code: plan kind, agreement kind, phase
    Column("academy", String(40), nullable=False),
    Column("responsible", String(64), nullable=False),  # staff id
    Column("opened_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("closed_seq", Integer, nullable=True),
    Column("closed_on", Date, nullable=True),
    Column("outcome", String(20), nullable=True),
    Index("deadlines_due", "due_on"),
    Index("deadlines_pupil_rule", "pupil_id", "rule"),
)

# What each rule asks of whom, in the words a SENDCo uses.
RULES: dict[str, str] = {
    "plan_review": "review the plan",
    "reduced_timetable_review": "review the interim reduced timetable",
    "annual_review_notice": "invite to the EHC plan's annual review (notice to invitees)",
    "annual_review": "hold the EHC plan's annual review meeting",
    "annual_review_papers": "circulate the annual review papers",
    "annual_review_report": "send the annual review report",
    "la_information": "send the information the LA asked for (EHC needs assessment)",
    "phase_transfer": "EHC plan amended for the phase transfer",
    "records_transfer": "send the SEND file to the next setting",
    "parental_agreement": "renew the parents' signed agreement",
    "subject_access": "respond to the subject access request",
    "exam_access_review": "assess exam access arrangements again (the old ones lapse)",
    "monitoring_review": "review the pupil's place on the monitoring register",
    # The local authority's steps: what the LA owes the family and the school, by law.
    "la_assessment_decision": "LA: decide whether to carry out an EHC needs assessment",
    "la_issue_decision": "LA: decide whether to issue an EHC plan",
    "la_final_plan": "LA: issue the final EHC plan",
    "la_review_decision": "LA: decide after the annual review (maintain, amend, cease)",
    "la_amended_plan": "LA: issue the amended EHC plan",
}
# Whose step each rule is: the school's own list and the LA's are shown apart, since "the
# LA is late" is evidence for a complaint, not the SENDCo's work.
LA_RULES = frozenset(rule for rule in RULES if rule.startswith("la_") and rule != "la_information")
Party = Literal["school", "local_authority"]


def party_of(rule: str) -> Party:
    return "local_authority" if rule in LA_RULES else "school"


# The last year group before each statutory phase transfer (SEND Regulations 2014, reg. 18):
# primary to secondary after Year 6 (15 February), secondary to post-16 after Year 11
# (31 March). Other transfers (infant to junior, early years) depend on the academy's phase,
# which no entry records: a TransitionPlanned entry with an ehcp_review_by date covers them.
PHASE_TRANSFERS = ((6, "secondary", False), (11, "post16", True))
# Deadlines that leave with the pupil: once on another setting's roll they are not ours.
_MOOT_ON_LEAVING = "left_trust"
# ... except these: the SEND file still has to go, and a data-protection request made to
# the trust is still the trust's to answer.
_STAY_ON_LEAVING = ("records_transfer", "subject_access")
_BEFORE_REJOINING = "before_rejoining"  # the detail of a records transfer of an earlier move
_ANNUAL = ("annual_review_notice", "annual_review", "annual_review_papers", "annual_review_report")


class DeadlineSchedule:
    """Keeps `deadlines` current under one trust policy."""

    name = "deadlines"
    tables: tuple[Table, ...] = (deadline_pupils, deadlines)
    event_types: frozenset[str] | None

    def __init__(self, policy: TrustPolicy) -> None:
        self.policy = policy
        self._handlers: dict[str, Callable[[_Entry], None]] = {
            "PupilRegistered": self._registered,
            "TransferredWithinTrust": self._transferred,
            "LeftTrust": self._left,
            "RecordsPurged": self._purged,
            "PlanAgreed": self._plan_agreed,
            "PlanReviewed": self._plan_reviewed,
            "ParentalAgreementSigned": self._agreement_signed,
            "ExamAccessArrangementGranted": self._exam_access_granted,
            "RegisterStatusChanged": self._status_changed,
            "MonitoringReviewed": self._monitoring_reviewed,
            "PupilRejoined": self._rejoined,
            "YearGroupChanged": self._year_group_changed,
            "EHCNeedsAssessmentRequested": self._assessment_requested,
            "EHCAssessmentDecided": self._assessment_decided,
            "EHCPlanDecided": self._issue_decided,
            "DraftEHCPlanReceived": self._draft_received,
            "AnnualReviewPapersCirculated": self._papers_circulated,
            "AnnualReviewDecided": self._review_decided,
            "LAInformationRequested": self._la_information_requested,
            "LAInformationProvided": self._la_information_provided,
            "EHCPlanIssued": self._ehc_plan_issued,
            "TransitionPlanned": self._transition_planned,
            "EHCPlanAmended": self._ehc_plan_amended,
            "EHCPlanCeased": self._ehc_plan_ceased,
            "AnnualReviewScheduled": self._annual_review_scheduled,
            "AnnualReviewHeld": self._annual_review_held,
            "AnnualReviewReportSent": self._annual_review_report_sent,
            "SubjectAccessRequested": self._subject_access_requested,
            "SubjectAccessExtended": self._subject_access_extended,
            "RecordsDisclosed": self._records_disclosed,
        }
        self.event_types = frozenset(self._handlers)

    def apply(self, session: Session, event: ProjectedEvent) -> None:
        self.apply_batch(session, [event])

    def apply_batch(self, session: Session, events: Sequence[ProjectedEvent]) -> None:
        """Apply a batch in commit order on the touched pupils' rows held in memory (read
        with one query per table), then write what changed in bulk."""
        rows = PupilRows(session, self.tables)
        # A pupil whose first entry here is its registration has no rows yet.
        rows.load(resumed_pupils(events))
        for event in events:
            if event.payload is None:
                continue  # shredded: the tombstone (RecordsPurged) does the clean-up
            handler = self._handlers.get(event.type)
            if handler is not None:
                handler(_Entry(rows, event, event.payload))
        rows.flush()

    # ----- the pupil -----------------------------------------------------------------------

    def _registered(self, e: _Entry) -> None:
        e.state.add(
            deadline_pupils,
            {
                "pupil_id": e.pupil_id,
                "academy": e.p["academy"],
                "year_group": e.p["year_group"],
                "registered_on": e.day,
            },
        )

    def _transferred(self, e: _Entry) -> None:
        # Open deadlines move with the pupil: the new academy's staff now owe them.
        to = e.p["to_academy"]
        for pupil in e.state.rows(deadline_pupils, e.pupil_id):
            pupil["academy"] = to
            e.state.changed(deadline_pupils, pupil)
        for row in e.rows():
            row["academy"] = to
            e.state.changed(deadlines, row)

    def _left(self, e: _Entry) -> None:
        sent = _day_or_none(e.p["records_sent_on"])
        every = e.rows("records_transfer", open_only=False)
        this_move = [row for row in every if row["detail"] != _BEFORE_REJOINING]
        if this_move:
            subject = this_move[0]["subject"]  # a later LeftTrust completes what it knew
        else:
            # The move's first LeftTrust (a departure after re-joining is a new move).
            e.close_all(outcome=_MOOT_ON_LEAVING, but_not=_STAY_ON_LEAVING)
            due = _day_or_none(e.p.get("records_due_by")) or self.policy.records_transfer_due(e.day)
            subject = f"departure-{e.event.seq}" if every else "departure"
            e.open("records_transfer", subject, due)
        if sent is not None:
            e.close("records_transfer", subject, on=sent)

    def _rejoined(self, e: _Entry) -> None:
        # Back on roll: new deadlines belong to the academy the pupil rejoins.
        for pupil in e.state.rows(deadline_pupils, e.pupil_id):
            pupil["academy"] = e.p["academy"]
            e.state.changed(deadline_pupils, pupil)
        # The earlier departure's file is still owed, but it was another move: the next
        # LeftTrust starts a records transfer of its own.
        for row in e.rows("records_transfer", open_only=False):
            row["detail"] = _BEFORE_REJOINING
            e.state.changed(deadlines, row)
        self._year_group_changed(e)

    def _year_group_changed(self, e: _Entry) -> None:
        """The pupil's year group is set anew (a change, or re-joining in a year group):
        from now their phase transfers are counted from it. Where a plan is in force (a
        phase transfer is owed), the transfers owed move with the year group: one no
        longer due is closed ("year_group_changed"), one newly due is opened."""
        pupil = e.pupil()
        pupil["year_group"], pupil["registered_on"] = e.p["year_group"], e.day
        e.state.changed(deadline_pupils, pupil)
        owed = e.rows("phase_transfer")
        if not owed:
            return
        due = {d.isoformat(): (d, phase) for d, phase in self._phase_transfers(pupil, e.day)}
        for row in owed:
            if row["subject"] not in due:
                e.close("phase_transfer", row["subject"], outcome="year_group_changed")
        for subject, (day, phase) in due.items():
            if not e.rows("phase_transfer", subject, open_only=False):
                e.open("phase_transfer", subject, day, detail=phase)

    def _phase_transfers(self, pupil: dict[str, Any], today: date) -> list[tuple[date, str]]:
        """The phase-transfer reviews an EHC plan owes from `today`, by the pupil's year."""
        found = []
        for last_year, phase, post16 in PHASE_TRANSFERS:
            # The school year (by its starting calendar year) the pupil spends in last_year.
            year = school_year(pupil["registered_on"]) + last_year - pupil["year_group"]
            due = self.policy.phase_transfer_review_due(year + 1, post16=post16)
            if due >= today:
                found.append((due, phase))
        return found

    def _status_changed(self, e: _Entry) -> None:
        # Onto the monitoring register: reviewed at the policy's interval (Harmony §10.1:
        # half-termly); off it, no more reviews are owed.
        e.close("monitoring_review", "monitoring", outcome="status_changed")
        interval = self.policy.deadlines.monitoring_review_interval_days
        if e.p["status"] == "monitoring" and interval is not None:
            e.open("monitoring_review", "monitoring", e.day + timedelta(days=interval))

    def _monitoring_reviewed(self, e: _Entry) -> None:
        e.close("monitoring_review", "monitoring", outcome="met")
        following = _day_or_none(e.p["next_review_by"])
        if following is not None:
            e.open("monitoring_review", "monitoring", following)

    def _purged(self, e: _Entry) -> None:
        e.state.wipe(e.pupil_id)

    # ----- plans ---------------------------------------------------------------------------

    def _plan_agreed(self, e: _Entry) -> None:
        review_on = _day_or_none(e.p.get("review_on")) or self.policy.plan_review_due(
            e.day, e.p["kind"]
        )
        e.open(_plan_rule(e.p["kind"]), e.p["plan_id"], review_on, detail=e.p["kind"])

    def _plan_reviewed(self, e: _Entry) -> None:
        plan = e.p["plan_id"]
        for row in e.rows(subject=plan):
            e.close(row["rule"], plan, outcome="met")
            next_review = _day_or_none(e.p["next_review_on"])
            if not e.p["closes_plan"] and next_review is not None:
                e.open(row["rule"], plan, next_review, detail=row["detail"])

    def _agreement_signed(self, e: _Entry) -> None:
        # An agreement with an end date must be renewed by then if it is still needed; the
        # domain gives SEN support agreements the policy's renewal period (Harmony: signed
        # annually). Signing again renews the one before.
        kind = e.p["agreement"]
        e.close("parental_agreement", kind, outcome="met")
        valid_until = _day_or_none(e.p["valid_until"])
        if valid_until is not None:
            e.open("parental_agreement", kind, valid_until, detail=kind)

    def _exam_access_granted(self, e: _Entry) -> None:
        # Arrangements that lapse (Aspire §9: Year 6's do not carry into Year 7) must be
        # assessed again by then; granting new ones answers the old.
        e.close("exam_access_review", "exam_access", outcome="met")
        lapses = _day_or_none(e.p["lapses_on"])
        if lapses is not None:
            e.open("exam_access_review", "exam_access", lapses)

    # ----- EHC steps -----------------------------------------------------------------------

    def _la_information_requested(self, e: _Entry) -> None:
        due = _day_or_none(e.p.get("respond_by")) or self.policy.la_information_due(e.day)
        e.open("la_information", str(e.event.seq), due)

    def _la_information_provided(self, e: _Entry) -> None:
        e.close("la_information", str(e.p["answers_seq"]), outcome="met")

    # The LA's clocks run from the request (SEND Regs 2014 regs. 5, 10, 13) and close on the
    # date of the LA's letter: the letter's date, not the day the school heard, is what the
    # law measures. A new request replaces an earlier one's clocks.

    def _assessment_requested(self, e: _Entry) -> None:
        for rule in ("la_assessment_decision", "la_issue_decision", "la_final_plan"):
            e.close(rule, "ehc", outcome="new_request")
        e.open("la_assessment_decision", "ehc", weeks_after(e.day, ASSESSMENT_DECISION_WEEKS))
        e.open("la_final_plan", "ehc", weeks_after(e.day, FINAL_PLAN_WEEKS))

    def _assessment_decided(self, e: _Entry) -> None:
        letter = date.fromisoformat(e.p["letter_dated"])
        e.close("la_assessment_decision", "ehc", on=letter)
        if e.p["decision"] == "assess":
            requested = _request_day(e) or letter
            e.open("la_issue_decision", "ehc", weeks_after(requested, ISSUE_DECISION_WEEKS))
        else:
            e.close("la_final_plan", "ehc", on=letter, outcome="not_assessed")

    def _issue_decided(self, e: _Entry) -> None:
        letter = date.fromisoformat(e.p["letter_dated"])
        e.close("la_issue_decision", "ehc", on=letter)
        if e.p["decision"] == "not_issue":
            e.close("la_final_plan", "ehc", on=letter, outcome="not_issued")

    def _draft_received(self, e: _Entry) -> None:
        # A draft is the LA's decision to issue, in practice and in the Code (9.77).
        e.close("la_issue_decision", "ehc", on=date.fromisoformat(e.p["letter_dated"]))

    def _ehc_plan_issued(self, e: _Entry) -> None:
        # The LA has what it needed: an unanswered request is moot once the plan exists.
        for row in e.rows("la_information"):
            e.close("la_information", row["subject"], outcome="plan_issued")
        e.close("la_final_plan", "ehc", outcome="met")
        for rule in ("la_assessment_decision", "la_issue_decision"):
            e.close(rule, "ehc", outcome="plan_issued")
        first = _day_or_none(e.p.get("first_review_by")) or add_months(
            e.day, self.policy.deadlines.annual_review_interval_months
        )
        self._annual_review_due(e, first)
        for due, phase in self._phase_transfers(e.pupil(), e.day):
            e.open("phase_transfer", due.isoformat(), due, detail=phase)

    def _transition_planned(self, e: _Entry) -> None:
        due = _day_or_none(e.p["ehcp_review_by"])
        # Most planned transfers are the ones the year group already gave: one deadline each.
        known = e.rows("phase_transfer", subject=due.isoformat(), open_only=False) if due else []
        if due is not None and not known:
            detail = "post16" if e.p["transition"] == "post16" else "secondary"
            e.open("phase_transfer", due.isoformat(), due, detail=detail)

    def _ehc_plan_amended(self, e: _Entry) -> None:
        e.close("la_review_decision", "ehcp", outcome="plan_amended")
        e.close("la_amended_plan", "ehcp", outcome="met")
        if not e.p["phase_transfer"]:
            return
        # The amendment serves the nearest transfer not in an earlier school year; an
        # older one never amended stays overdue.
        current = school_year(e.day)
        pending = [r for r in e.rows("phase_transfer") if school_year(r["due_on"]) >= current]
        if pending:
            nearest = min(pending, key=lambda r: r["due_on"])
            e.close("phase_transfer", nearest["subject"], outcome="met")

    def _ehc_plan_ceased(self, e: _Entry) -> None:
        for rule in (*_ANNUAL, "phase_transfer", "la_review_decision", "la_amended_plan"):
            for row in e.rows(rule):
                e.close(rule, row["subject"], outcome="plan_ceased")

    def _annual_review_scheduled(self, e: _Entry) -> None:
        e.close("annual_review_notice", "ehcp", on=_day_or_none(e.p["notice_given_on"]))
        # Arranged again before it was held: the meeting moved, so do its papers.
        e.close("annual_review_papers", "ehcp", outcome="rescheduled")
        meeting = date.fromisoformat(e.p["meeting_on"])
        due = _day_or_none(e.p.get("papers_due_by")) or self.policy.annual_review_papers_by(meeting)
        e.open("annual_review_papers", "ehcp", due)

    def _papers_circulated(self, e: _Entry) -> None:
        e.close("annual_review_papers", "ehcp", outcome="met")

    def _review_decided(self, e: _Entry) -> None:
        letter = date.fromisoformat(e.p["letter_dated"])
        e.close("la_review_decision", "ehcp", on=letter)
        amended_by = _day_or_none(e.p["amended_plan_by"])
        if amended_by is not None:
            e.open("la_amended_plan", "ehcp", amended_by)

    def _annual_review_held(self, e: _Entry) -> None:
        e.close("annual_review", "ehcp", outcome="met")
        e.close("la_review_decision", "ehcp", outcome="new_review")
        e.open("la_review_decision", "ehcp", weeks_after(e.day, REVIEW_DECISION_WEEKS))
        circulated = _day_or_none(e.p["papers_circulated_on"])
        outcome = "met" if circulated is not None else "not_recorded"
        e.close("annual_review_papers", "ehcp", on=circulated, outcome=outcome)
        e.close("annual_review_notice", "ehcp", outcome="met")
        report = _day_or_none(e.p.get("report_due_by")) or self.policy.annual_review_report_due(
            e.day
        )
        e.open("annual_review_report", "ehcp", report)
        following = _day_or_none(e.p.get("next_review_by")) or add_months(
            e.day, self.policy.deadlines.annual_review_interval_months
        )
        self._annual_review_due(e, following)

    def _annual_review_report_sent(self, e: _Entry) -> None:
        e.close("annual_review_report", "ehcp", outcome="met")

    def _annual_review_due(self, e: _Entry, by: date) -> None:
        e.open("annual_review", "ehcp", by)
        e.open("annual_review_notice", "ehcp", self.policy.annual_review_notice_by(by))

    # ----- data protection -----------------------------------------------------------------

    def _subject_access_requested(self, e: _Entry) -> None:
        # One calendar month from receipt (UK GDPR art. 12(3)); the entry carries the date.
        due = _day_or_none(e.p.get("respond_by")) or add_months(e.day, 1)
        e.open("subject_access", str(e.event.seq), due, detail=e.p["requester_relationship"])

    def _subject_access_extended(self, e: _Entry) -> None:
        # Two further months (art. 12(3)): the same deadline, due later.
        for row in e.rows("subject_access", str(e.p["request_seq"])):
            row["due_on"] = date.fromisoformat(e.p["respond_by"])
            e.state.changed(deadlines, row)

    def _records_disclosed(self, e: _Entry) -> None:
        # The subject-access export answers every request its entries cover.
        if e.p["purpose"] != "subject_access":
            return
        for row in e.rows("subject_access"):
            if row["opened_seq"] <= e.p["up_to_seq"]:
                e.close("subject_access", row["subject"], outcome="met")


def _request_day(e: _Entry) -> date | None:
    """The day of the request whose clocks are running (the open final-plan deadline's)."""
    running = e.rows("la_final_plan", "ehc")
    return running[0]["opened_on"] if running else None


def _plan_rule(kind: str) -> str:
    return "reduced_timetable_review" if kind == "interim_reduced_timetable" else "plan_review"


def _day_or_none(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(value)


class _Entry:
    """One event being applied, with the row operations the rules are written in. They work
    on the batch's rows in memory (`state`); the batch writes them back at its end."""

    def __init__(self, state: PupilRows, event: ProjectedEvent, payload: dict[str, Any]) -> None:
        self.state, self.event, self.p = state, event, payload
        self.pupil_id = event.pupil_id
        self.day = date.fromisoformat(payload["happened_on"])

    def pupil(self) -> dict[str, Any]:
        found = self.state.rows(deadline_pupils, self.pupil_id)
        if not found:
            raise ProjectionError(
                f"deadlines: entry {self.event.seq} of pupil {self.pupil_id} "
                f"({self.event.type}) came before the pupil's registration was applied; "
                "run `chronicle projections rebuild deadlines`"
            )
        return found[0]

    def open(self, rule: str, subject: str, due: date, *, detail: str | None = None) -> None:
        self.state.add(
            deadlines,
            {
                "pupil_id": self.pupil_id,
                "opened_seq": self.event.seq,
                "rule": rule,
                "subject": subject,
                "detail": detail,
                "academy": self.pupil()["academy"],
                "responsible": self.p["recorded_by"]["staff_id"],
                "opened_on": self.day,
                "due_on": due,
                "closed_seq": None,
                "closed_on": None,
                "outcome": None,
            },
        )

    def rows(
        self, rule: str | None = None, subject: str | None = None, *, open_only: bool = True
    ) -> list[dict[str, Any]]:
        return [
            row
            for row in self.state.rows(deadlines, self.pupil_id)
            if (not open_only or row["closed_seq"] is None)
            and (rule is None or row["rule"] == rule)
            and (subject is None or row["subject"] == subject)
        ]

    def close(
        self, rule: str, subject: str, *, on: date | None = None, outcome: str = "met"
    ) -> None:
        """Close the open deadline of this rule and subject (if any), on `on` or this day."""
        for row in self.rows(rule, subject):
            self._close(row, on or self.day, outcome)

    def close_all(self, *, outcome: str, but_not: tuple[str, ...]) -> None:
        for row in self.rows():
            if row["rule"] not in but_not:
                self._close(row, self.day, outcome)

    def _close(self, row: dict[str, Any], on: date, outcome: str) -> None:
        row.update(closed_seq=self.event.seq, closed_on=on, outcome=outcome)
        self.state.changed(deadlines, row)


# ----- reading ----------------------------------------------------------------------------

Status = Literal["due", "overdue"]


@dataclass(frozen=True)
class Deadline:
    """An open deadline as of a day: `days` is how many remain (negative: overdue by)."""

    pupil_id: UUID
    rule: str
    what: str
    detail: str | None
    academy: str
    responsible: str
    opened_seq: int
    opened_on: date
    due_on: date
    status: Status
    days: int
    party: Party = "school"

    def as_json(self) -> dict[str, Any]:
        return {
            "pupil_id": str(self.pupil_id),
            "rule": self.rule,
            "party": self.party,
            "what": self.what,
            "detail": self.detail,
            "academy": self.academy,
            "responsible": self.responsible,
            "opened_seq": self.opened_seq,
            "opened_on": self.opened_on.isoformat(),
            "due_on": self.due_on.isoformat(),
            "status": self.status,
            "days": self.days,
        }


def due_deadlines(
    records: ReadStore,
    *,
    as_of: date,
    academy: str | None = None,
    person: str | None = None,
    overdue_only: bool = False,
    within_days: int | None = None,
) -> list[Deadline]:
    """Deadlines open on `as_of`, most overdue first.

    Open on a day means: opened by an entry that happened on or before it, and not met by
    one that happened on or before it (so an earlier `as_of` shows the past as it was).
    Due on the day itself is due, not overdue; the day after, overdue. `within_days` limits
    the not-yet-overdue ones to those due within that many days.
    """
    d = deadlines.c
    query = select(deadlines).where(
        d.opened_on <= as_of, or_(d.closed_on.is_(None), d.closed_on > as_of)
    )
    if academy is not None:
        query = query.where(d.academy == academy)
    if person is not None:
        query = query.where(d.responsible == person)
    if overdue_only:
        query = query.where(d.due_on < as_of)
    elif within_days is not None:
        query = query.where(d.due_on <= as_of + timedelta(days=within_days))
    query = query.order_by(d.due_on, d.academy, d.pupil_id, d.rule)
    with records.datastore.transaction(commit=False) as session:
        return [_deadline(row, as_of) for row in session.execute(query).mappings()]


def _deadline(row: Any, as_of: date) -> Deadline:
    days = (row["due_on"] - as_of).days
    return Deadline(
        pupil_id=row["pupil_id"],
        rule=row["rule"],
        what=RULES[row["rule"]],
        detail=row["detail"],
        academy=row["academy"],
        responsible=row["responsible"],
        opened_seq=row["opened_seq"],
        opened_on=row["opened_on"],
        due_on=row["due_on"],
        status="overdue" if days < 0 else "due",
        days=days,
        party=party_of(row["rule"]),
    )


def all_rows(session: Session) -> Iterator[dict[str, Any]]:
    """Every deadline row, open or closed, in a stable order (for checks and tests)."""
    d = deadlines.c
    query = select(deadlines).order_by(d.pupil_id, d.opened_seq, d.rule, d.subject)
    for row in session.execute(query).mappings():
        yield dict(row)
