"""A trust's SEND policy as data: register, deadlines, retention, plans and who sees what.

Each trust runs Chronicle under one policy file, ``policies/<name>.toml``, validated here.
The shipped files are package data of the ``policies`` package, read with
``importlib.resources``, so a wheel install finds them as a checkout does.
The five shipped trust files derive from the published policies in ``shared/seeds`` and
cite them; ``default.toml`` is the documented baseline (Code of Practice deadlines, every
category, every plan kind). ``docs/policies.md`` explains each setting.

This module imports nothing of ours but `domain.statute` (the statutory floor under the
deadlines): the vocabulary below is the domain's, spelled exactly as the events and values
spell it.
"""

import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from domain.statute import FLOORS

RegisterStatus = Literal["none", "monitoring", "sen_support", "ehcp"]
SubFlag = Literal["nsa", "specialist_send_support"]
Role = Literal["sendco", "teacher", "dsl", "dpo", "tribunal", "trust_admin", "auditor"]
PlanKind = Literal[
    "individual_plan", "one_page_profile", "strategy_sheet", "health_care_plan", "peep",
    "risk_assessment", "intimate_care_plan", "behaviour_plan", "interim_reduced_timetable",
    "exam_access",
]  # fmt: skip
EntryKind = Literal[
    "PupilRegistered", "ConcernRaised", "RegisterStatusChanged", "NeedRecorded",
    "NeedWithdrawn", "PlanAgreed", "PlanReviewed", "ExternalAgencyInvolved", "AdviceReceived",
    "EHCNeedsAssessmentRequested", "LAInformationRequested", "LAInformationProvided",
    "EHCAssessmentDecided", "EHCPlanDecided", "DraftEHCPlanReceived", "EHCPlanIssued",
    "AnnualReviewScheduled", "AnnualReviewPapersCirculated", "AnnualReviewHeld",
    "AnnualReviewReportSent", "AnnualReviewDecided", "EHCPlanAmended",
    "EHCPlanCeased", "SafeguardingCrossReferenced", "HistoryImported",
    "SafeguardingReferenceImported", "ParentalAgreementSigned",
    "ExamAccessArrangementGranted", "TransitionPlanned", "TransferredWithinTrust", "LeftTrust",
    "PupilRejoined", "YearGroupChanged", "MonitoringReviewed", "KeyWorkerAssigned",
    "EntryCorrected", "LegalHoldPlaced", "LegalHoldLifted", "RecordsDisclosed",
    "SubjectAccessRequested", "SubjectAccessExtended", "ErasureRequestRefused", "RecordsPurged",
]  # fmt: skip
# What a register change must carry or find on the record (see docs/policies.md).
Requirement = Literal[
    "reason", "decision_maker", "parents_informed", "parental_consent", "primary_need",
    "external_professional", "ehc_plan_issued", "ehc_plan_ceased",
]  # fmt: skip
DisclosurePurpose = Literal[
    "send_tribunal_appeal", "secretary_of_state", "criminal_court_order",
    "maladministration_investigation", "safeguarding_welfare_duties", "ofsted_inspection",
    "next_setting_headteacher",
]  # fmt: skip
CensusCode = Literal["N", "K", "E"]

REGISTER_STATUSES: tuple[RegisterStatus, ...] = get_args(RegisterStatus)
SUB_FLAGS: tuple[SubFlag, ...] = get_args(SubFlag)
ROLES: tuple[Role, ...] = get_args(Role)
PLAN_KINDS: tuple[PlanKind, ...] = get_args(PlanKind)
ENTRY_KINDS: tuple[EntryKind, ...] = get_args(EntryKind)
REQUIREMENTS: tuple[Requirement, ...] = get_args(Requirement)
DISCLOSURE_PURPOSES: tuple[DisclosurePurpose, ...] = get_args(DisclosurePurpose)
CENSUS_CODES: Mapping[RegisterStatus, CensusCode] = {
    "none": "N", "monitoring": "N", "sen_support": "K", "ehcp": "E",
}  # fmt: skip

SAFEGUARDING_KIND: EntryKind = "SafeguardingCrossReferenced"
# Safeguarding pointers brought in from another product (docs/import.md): always restricted,
# whether or not a policy lists them, as every policy restricts the cross-references.
IMPORTED_SAFEGUARDING_KIND: EntryKind = "SafeguardingReferenceImported"
POLICY_ENV_VAR = "CHRONICLE_POLICY"
DEFAULT_POLICY_NAME = "default"
# The package whose data files are the shipped policies (the top-level policies/ folder).
SHIPPED_POLICIES_PACKAGE = "policies"
_REPO_ROOT = Path(__file__).resolve().parent.parent
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_T = TypeVar("_T", bound=str)


class _Problems(ValueError):
    """Cross-field problems, each with its path below the model that found it."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))
        self.problems = tuple(problems)


class _Found(list[tuple[str, str]]):
    """Problems found so far by a validator: (path below the model, message)."""

    def add(self, path: str, message: str) -> None:
        self.append((path, message))

    def duplicates(self, values: Sequence[str], path: str) -> None:
        for i, value in enumerate(values):
            if value in values[:i]:
                self.add(f"{path}.{i}", f"{value!r} is listed twice")

    def raise_any(self) -> None:
        if self:
            raise _Problems(self)


def _month_day(value: str) -> str:
    match = re.fullmatch(r"(\d{2})-(\d{2})", value)
    try:
        # 2001 is not a leap year: a yearly deadline must exist every year.
        if match and date(2001, int(match[1]), int(match[2])):
            return value
    except ValueError:
        pass
    raise ValueError(f"{value!r} is not a month-day (MM-DD) that exists every year")


Days = Annotated[int, Field(strict=True, gt=0)]
Months = Annotated[int, Field(strict=True, gt=0)]
MonthDay = Annotated[str, AfterValidator(_month_day)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Transition(_Model):
    """One allowed move on the register and what must accompany it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: RegisterStatus = Field(alias="from")
    to: RegisterStatus
    requires: tuple[Requirement, ...] = ()

    @model_validator(mode="after")
    def _sensible(self) -> "Transition":
        found = _Found()
        found.duplicates(self.requires, "requires")
        if self.from_ == self.to:
            found.add("to", f"a transition must change the status ({self.to!r} twice)")
        found.raise_any()
        return self


class SubFlagRule(_Model):
    """A register sub-flag in use, the status it qualifies, and what setting it needs."""

    flag: SubFlag
    status: RegisterStatus
    requires: tuple[Requirement, ...] = ()


class RegisterPolicy(_Model):
    """Categories in use, the moves between them, and sub-flags."""

    statuses: tuple[RegisterStatus, ...]
    transitions: tuple[Transition, ...]
    sub_flags: tuple[SubFlagRule, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> "RegisterPolicy":
        found = _Found()
        found.duplicates(self.statuses, "statuses")
        if "none" not in self.statuses:
            found.add("statuses", "must include 'none' (census N, not on the register)")
        _check_transitions(found, self.statuses, self.transitions)
        _check_sub_flags(found, self.statuses, self.sub_flags)
        found.raise_any()
        return self


def _check_transitions(
    found: _Found, statuses: tuple[RegisterStatus, ...], transitions: tuple[Transition, ...]
) -> None:
    declared = ", ".join(statuses)
    for i, t in enumerate(transitions):
        for end, status in (("from", t.from_), ("to", t.to)):
            if status not in statuses:
                found.add(
                    f"transitions.{i}.{end}",
                    f"{status!r} is not a declared status (register.statuses = {declared})",
                )
        if any((t.from_, t.to) == (u.from_, u.to) for u in transitions[:i]):
            found.add(f"transitions.{i}", f"{t.from_} -> {t.to} is listed twice")
        for requirement, why in _required_by_law(t):
            if requirement not in t.requires:
                found.add(
                    f"transitions.{i}.requires",
                    f"{t.from_} -> {t.to} must require {requirement!r}: {why}",
                )
    reachable = {"none"} | {t.to for t in transitions}
    for status in statuses:
        if status not in reachable:
            found.add("transitions", f"no transition leads to declared status {status!r}")


def _required_by_law(t: Transition) -> list[tuple[Requirement, str]]:
    """What no trust may relax: K and E need a primary need (census); E is the LA's to give."""
    needed: list[tuple[Requirement, str]] = []
    if CENSUS_CODES[t.to] in ("K", "E"):
        needed.append(("primary_need", f"census {CENSUS_CODES[t.to]} needs a primary need"))
    if t.to == "ehcp":
        needed.append(("ehc_plan_issued", "only an EHC plan issued by the LA puts a pupil on E"))
    if t.from_ == "ehcp":
        needed.append(("ehc_plan_ceased", "a pupil leaves E only when the LA ceases the plan"))
    return needed


def _check_sub_flags(
    found: _Found, statuses: tuple[RegisterStatus, ...], sub_flags: tuple[SubFlagRule, ...]
) -> None:
    found.duplicates([rule.flag for rule in sub_flags], "sub_flags")
    for i, rule in enumerate(sub_flags):
        if rule.status == "none" or rule.status not in statuses:
            found.add(
                f"sub_flags.{i}.status",
                f"{rule.flag} must attach to a declared register status other than 'none' "
                f"({', '.join(statuses)})",
            )
        specialist = rule.flag == "specialist_send_support"
        if specialist and "external_professional" not in rule.requires:
            found.add(
                f"sub_flags.{i}.requires",
                "specialist_send_support means an external professional is involved: "
                "require 'external_professional'",
            )


# The kinds of record retention tells apart (docs/policies.md, `[retention]`): every record
# is a SEN file; one that holds a restricted entry (`[visibility] restricted`: safeguarding
# cross-references and imported pointers) is a child protection record as well.
RecordClass = Literal["sen_file", "child_protection"]
RECORD_CLASSES: tuple[RecordClass, ...] = get_args(RecordClass)
# No period may end before the pupil is 25: an EHC plan can be kept until then (CFA 2014
# s.46), and DOB + 25 is the shortest period the IRMS Toolkit gives either kind of record.
RETENTION_MIN_YEARS, RETENTION_MAX_YEARS = 25, 100


def _retention_years(value: int) -> int:
    if value <= 0 or value > RETENTION_MAX_YEARS:
        raise ValueError(
            f"{value} years is not a retention period: give whole years from "
            f"{RETENTION_MIN_YEARS} to {RETENTION_MAX_YEARS}"
        )
    if value < RETENTION_MIN_YEARS:
        raise ValueError(
            f"{value} years would purge records before the pupil is {RETENTION_MIN_YEARS}: an "
            "EHC plan can be kept until then (CFA 2014 s.46) and the IRMS Toolkit for Schools "
            f"keeps SEN and child protection files at least DOB + {RETENTION_MIN_YEARS}; "
            f"give {RETENTION_MIN_YEARS} to {RETENTION_MAX_YEARS}"
        )
    return value


RetentionYears = Annotated[int, Field(strict=True), AfterValidator(_retention_years)]


class RetentionPolicy(_Model):
    """How long a pupil's records are kept before they are crypto-shredded: a period per
    kind of record, counted from the date of birth. The record has one key, so it goes at
    once, when the latest period that applies to it ends."""

    anchor: Literal["date_of_birth"] = "date_of_birth"
    # The SEN file (every record): IRMS Toolkit for Schools, SEN files, reviews and EHC
    # plans, DOB + 31. The key keeps its old name, so a file with only `years` still loads.
    years: RetentionYears = 31
    # Restricted entries (child protection): IRMS Toolkit, child protection files, DOB + 25.
    child_protection_years: RetentionYears = 25

    def years_for(self, record_class: RecordClass) -> int:
        return self.child_protection_years if record_class == "child_protection" else self.years


class Deadlines(_Model):
    """Statutory and local time limits; defaults are the Code of Practice / statute."""

    annual_review_interval_months: Months = 12
    annual_review_notice_days: Days = 14
    annual_review_papers_days_before: Days = 14
    annual_review_report_days: Days = 14
    la_information_request_days: Days = 42
    phase_transfer_review_by: MonthDay = "02-15"
    post16_transfer_review_by: MonthDay = "03-31"
    individual_plan_review_interval_days: Days = 122
    monitoring_review_interval_days: Days | None = None
    parental_agreement_renewal_months: Months | None = None
    records_transfer_school_days: Days = 5
    subject_access_months: Months = 1
    reassessment_min_months: Months | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "Deadlines":
        found = _Found()
        for name, floor in FLOORS.items():
            value = getattr(self, name)
            if floor.looser(value):
                more = "longer" if floor.bound == "at_most" else "shorter"
                found.add(
                    name,
                    f"{value!r} is {more} than the law allows ({floor.statute}): a policy may "
                    f"be stricter than {floor.limit!r}, never looser",
                )
        papers, notice = self.annual_review_papers_days_before, self.annual_review_notice_days
        if papers > notice:
            found.add(
                "annual_review_papers_days_before",
                f"papers ({papers} days before the meeting) cannot be due before invitees "
                f"get notice ({notice} days before)",
            )
        found.raise_any()
        return self


# Plans reviewed on their own cycle, not the termly APDR one: an individual healthcare plan
# "at least annually" (DfE, Supporting pupils at school with medical conditions, 2015,
# para. 22); PEEPs, intimate care plans and risk assessments with it, at least annually
# (product default; no statute sets a shorter interval, and each is reviewed sooner when
# needs change). A plan that states its review date keeps it.
PLAN_REVIEW_INTERVALS: Mapping[PlanKind, int] = {
    "health_care_plan": 365, "peep": 365, "intimate_care_plan": 365, "risk_assessment": 365,
}  # fmt: skip


class PlansPolicy(_Model):
    kinds: tuple[PlanKind, ...] = Field(min_length=1)
    parent_meetings_per_year: Annotated[int, Field(strict=True, gt=0, le=12)] = 3
    # Review interval per plan kind when a plan states no date; other kinds take
    # deadlines.individual_plan_review_interval_days.
    review_interval_days: dict[PlanKind, Days] = Field(
        default_factory=lambda: dict(PLAN_REVIEW_INTERVALS)
    )
    # Intimate care only with parents' written consent in force (ParentalAgreementSigned,
    # intimate_care): the practice of schools' intimate care policies, which Leading
    # Learners' policy (6.7) defers to.
    intimate_care_requires_parental_consent: bool = True

    @model_validator(mode="after")
    def _unique(self) -> "PlansPolicy":
        found = _Found()
        found.duplicates(self.kinds, "kinds")
        found.raise_any()
        return self


class RoleVisibility(_Model):
    """The entry kinds one role may read; restricted kinds only with include_restricted."""

    see_all: bool = False
    see: tuple[EntryKind, ...] = ()
    include_restricted: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> "RoleVisibility":
        found = _Found()
        found.duplicates(self.see, "see")
        if self.see_all and self.see:
            found.add("see", "give either see_all = true or a see list, not both")
        found.raise_any()
        return self


class VisibilityPolicy(_Model):
    restricted: tuple[EntryKind, ...]
    roles: dict[Role, RoleVisibility]

    @field_validator("restricted", mode="after")
    @classmethod
    def _imported_restricted(cls, kinds: tuple[EntryKind, ...]) -> tuple[EntryKind, ...]:
        if IMPORTED_SAFEGUARDING_KIND in kinds:
            return kinds
        return (*kinds, IMPORTED_SAFEGUARDING_KIND)

    @model_validator(mode="after")
    def _safe(self) -> "VisibilityPolicy":
        found = _Found()
        found.duplicates(self.restricted, "restricted")
        if SAFEGUARDING_KIND not in self.restricted:
            found.add("restricted", f"must include {SAFEGUARDING_KIND}")
        missing = [role for role in ROLES if role not in self.roles]
        if missing:
            found.add("roles", f"every role needs an entry; missing: {', '.join(missing)}")
        for role, rule in self.roles.items():
            for i, kind in enumerate(rule.see):
                if kind in self.restricted and not rule.include_restricted:
                    found.add(
                        f"roles.{role}.see.{i}",
                        f"{kind} is restricted: only a role with include_restricted = true "
                        "may see it",
                    )
        _check_fixed_roles(found, self.roles)
        found.raise_any()
        return self

    def kinds_for(self, role: Role) -> frozenset[EntryKind]:
        rule = self.roles[role]
        kinds = frozenset(ENTRY_KINDS if rule.see_all else rule.see)
        return kinds if rule.include_restricted else kinds - frozenset(self.restricted)


def _check_fixed_roles(found: _Found, roles: Mapping[Role, RoleVisibility]) -> None:
    """Design rules no trust may relax (DESIGN.md: who uses it, for what)."""
    teacher, dsl, auditor = (roles.get(r) for r in ("teacher", "dsl", "auditor"))
    if teacher is not None and teacher.include_restricted:
        found.add(
            "roles.teacher.include_restricted",
            f"teachers may never see restricted entries such as {SAFEGUARDING_KIND}",
        )
    if auditor is not None and (auditor.see_all or auditor.see or auditor.include_restricted):
        found.add(
            "roles.auditor",
            "the auditor verifies the log without pupil content: "
            "see_all = false, see = [], include_restricted = false",
        )
    if dsl is not None and not dsl.include_restricted:
        found.add(
            "roles.dsl.include_restricted",
            f"the DSL audits every {SAFEGUARDING_KIND}: set include_restricted = true",
        )


class ConcernsPolicy(_Model):
    copy_to_parents: bool = False


class SafeguardingPolicy(_Model):
    external_system: str = Field(default="CPOMS", min_length=1)
    brief_note_max_chars: Annotated[int, Field(strict=True, gt=0, le=2000)] = 280
    dsl_decides: bool = True
    notify_staff_of_log: bool = False


# Purposes a disclosure of restricted entries (safeguarding cross-references) may serve by
# default: a court's order and another agency's safeguarding duties. Everywhere else the
# DSL decides, entry by entry (docs/policies.md). A copy for the family (subject access, a
# copy to parents) is not a purpose this list can name: the DSL releases what is safe.
RESTRICTED_DISCLOSED_FOR: tuple[DisclosurePurpose, ...] = (
    "criminal_court_order",
    "safeguarding_welfare_duties",
)


class DisclosurePolicy(_Model):
    ehcp_requires_parental_consent: bool = False
    ehcp_permitted_purposes: tuple[DisclosurePurpose, ...] = ()
    restricted_disclosed_for: tuple[DisclosurePurpose, ...] = RESTRICTED_DISCLOSED_FOR

    @model_validator(mode="after")
    def _coherent(self) -> "DisclosurePolicy":
        found = _Found()
        found.duplicates(self.ehcp_permitted_purposes, "ehcp_permitted_purposes")
        found.duplicates(self.restricted_disclosed_for, "restricted_disclosed_for")
        if self.ehcp_permitted_purposes and not self.ehcp_requires_parental_consent:
            found.add(
                "ehcp_permitted_purposes",
                "exceptions to parental consent need ehcp_requires_parental_consent = true",
            )
        found.raise_any()
        return self


class ExamAccessPolicy(_Model):
    lapse_on_entry_to_year: Annotated[int, Field(strict=True, ge=1, le=14)] | None = None


class TransitionInfoPolicy(_Model):
    share_requires_parental_agreement: bool = False


class ReducedTimetablePolicy(_Model):
    requires_parental_consent: bool = True
    requires_la_informed: bool = False
    requires_principal_agreement: bool = False


class Term(_Model):
    """One term of the school year: its first and last day of teaching."""

    starts: date
    ends: date


class CalendarPolicy(_Model):
    """The trust's term dates. Deadlines the law or KCSIE count in school days (the SEND
    and child protection files to the next school: "within 5 days for an in-year transfer
    or within the first 5 days of the start of a new term") count only weekdays in a term;
    with no terms given, every weekday counts. Every other deadline is in calendar days."""

    terms: tuple[Term, ...] = ()

    @model_validator(mode="after")
    def _ordered(self) -> "CalendarPolicy":
        found = _Found()
        for i, term in enumerate(self.terms):
            if term.ends < term.starts:
                found.add(
                    f"terms.{i}.ends", f"{term.ends} is before the term starts ({term.starts})"
                )
            if i and term.starts <= self.terms[i - 1].ends:
                found.add(
                    f"terms.{i}.starts",
                    f"{term.starts} is not after the previous term ends "
                    f"({self.terms[i - 1].ends}): list terms in order, without overlap",
                )
        found.raise_any()
        return self

    def is_school_day(self, day: date) -> bool:
        if day.weekday() >= 5:
            return False
        if not self.terms or day > self.terms[-1].ends:
            return True  # no calendar, or past the last term given: weekdays
        return any(term.starts <= day <= term.ends for term in self.terms)

    def add_school_days(self, day: date, days: int) -> date:
        """`day` moved on by `days` school days (weekdays in term; weekdays when no term
        dates are known for that time)."""
        while days > 0:
            day += timedelta(days=1)
            if self.is_school_day(day):
                days -= 1
        return day


class TrustPolicy(_Model):
    """One trust's policy. Build it with `load_policy`; every section is validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_version: Literal[1] = 1
    trust: str = Field(min_length=1)
    seed: Annotated[str, Field(pattern=r"^\d{3}_[0-9a-f]{16}\.txt$")] | None = None
    # "register" would shadow ABCMeta.register on the model class; the TOML key is "register".
    send_register: RegisterPolicy = Field(alias="register")
    retention: RetentionPolicy = Field(default_factory=RetentionPolicy)
    deadlines: Deadlines = Field(default_factory=Deadlines)
    plans: PlansPolicy
    visibility: VisibilityPolicy
    concerns: ConcernsPolicy = Field(default_factory=ConcernsPolicy)
    safeguarding: SafeguardingPolicy = Field(default_factory=SafeguardingPolicy)
    disclosure: DisclosurePolicy = Field(default_factory=DisclosurePolicy)
    exam_access: ExamAccessPolicy = Field(default_factory=ExamAccessPolicy)
    transition: TransitionInfoPolicy = Field(default_factory=TransitionInfoPolicy)
    reduced_timetable: ReducedTimetablePolicy = Field(default_factory=ReducedTimetablePolicy)
    calendar: CalendarPolicy = Field(default_factory=CalendarPolicy)

    def records_transfer_due(self, left_on: date) -> date:
        """When the SEND file must reach the next setting: the policy's school days after
        the last day on roll, counted in term time (`[calendar]`)."""
        return self.calendar.add_school_days(left_on, self.deadlines.records_transfer_school_days)

    def allows_transition(self, from_: str, to: str) -> Transition | None:
        """The rule for moving from one status to another, or None if the policy forbids it."""
        _check(from_, REGISTER_STATUSES, "register status")
        _check(to, REGISTER_STATUSES, "register status")
        rules = self.send_register.transitions
        return next((t for t in rules if (t.from_, t.to) == (from_, to)), None)

    def sub_flag_rule(self, flag: str) -> SubFlagRule | None:
        _check(flag, SUB_FLAGS, "sub-flag")
        return next((rule for rule in self.send_register.sub_flags if rule.flag == flag), None)

    def uses_plan_kind(self, kind: str) -> bool:
        _check(kind, PLAN_KINDS, "plan kind")
        return kind in self.plans.kinds

    def visible_kinds(self, role: str) -> frozenset[EntryKind]:
        return self.visibility.kinds_for(_check(role, ROLES, "role"))

    def may_see(self, role: str, kind: str) -> bool:
        """Whether a person acting in `role` may read entries of `kind`."""
        return _check(kind, ENTRY_KINDS, "entry kind") in self.visible_kinds(role)

    def retention_class(self, kind: str) -> RecordClass:
        """The kind of record an entry of `kind` makes the record: a restricted kind
        (`[visibility] restricted`) child protection, any other the SEN file."""
        restricted = _check(kind, ENTRY_KINDS, "entry kind") in self.visibility.restricted
        return "child_protection" if restricted else "sen_file"

    def retention_due(self, date_of_birth: date, record_class: RecordClass = "sen_file") -> date:
        """When that kind of record falls due for purge: the birthday at which its period
        ends (the SEN file's unless `record_class` says otherwise)."""
        return add_years(date_of_birth, self.retention.years_for(record_class))

    def retention_due_by(self, date_of_birth: date, record_class: RecordClass = "sen_file") -> date:
        """The date the retention schedule keeps: the last day of the month in which
        retention ends. Never earlier than `retention_due`, and no stored or shown date
        gives the birthday away (only its month and year)."""
        checked = _check(record_class, RECORD_CLASSES, "record class")
        due = self.retention_due(date_of_birth, checked)
        following = date(due.year + due.month // 12, due.month % 12 + 1, 1)
        return following - timedelta(days=1)

    def retention_governs(
        self, date_of_birth: date, classes: Iterable[RecordClass]
    ) -> tuple[RecordClass, date]:
        """The record's purge date: the latest `retention_due_by` of the kinds of record it
        holds (the SEN file always; it wins a tie), and which kind that is."""
        held = {"sen_file", *classes}
        dates = [(self.retention_due_by(date_of_birth, c), c) for c in RECORD_CLASSES if c in held]
        due, governing = max(dates, key=lambda d: d[0])
        return governing, due

    def phase_transfer_review_due(self, year: int, *, post16: bool = False) -> date:
        """By when an EHC plan must be amended for a transfer in `year` (Sept of that year)."""
        month_day = (
            self.deadlines.post16_transfer_review_by
            if post16
            else self.deadlines.phase_transfer_review_by
        )
        month, day = (int(part) for part in month_day.split("-"))
        return date(year, month, day)

    def la_information_due(self, requested_on: date) -> date:
        return requested_on + timedelta(days=self.deadlines.la_information_request_days)

    def annual_review_report_due(self, held_on: date) -> date:
        return held_on + timedelta(days=self.deadlines.annual_review_report_days)

    def annual_review_notice_by(self, meeting_on: date) -> date:
        return meeting_on - timedelta(days=self.deadlines.annual_review_notice_days)

    def annual_review_papers_by(self, meeting_on: date) -> date:
        return meeting_on - timedelta(days=self.deadlines.annual_review_papers_days_before)

    def plan_review_due(self, agreed_on: date, kind: str | None = None) -> date:
        """Fallback review date for a plan that states none: the plan kind's own interval
        (`plans.review_interval_days`), else the termly one."""
        days = self.deadlines.individual_plan_review_interval_days
        if kind is not None:
            days = self.plans.review_interval_days.get(_check(kind, PLAN_KINDS, "plan kind"), days)
        return agreed_on + timedelta(days=days)


def _check(value: str, allowed: tuple[_T, ...], what: str) -> _T:
    for candidate in allowed:
        if value == candidate:
            return candidate
    raise ValueError(f"unknown {what} {value!r}; expected one of: {', '.join(allowed)}")


def add_years(day: date, years: int) -> date:
    """`day` moved on by whole years; 29 February becomes 28 February in common years."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


# ----- loading ----------------------------------------------------------------------------


class PolicyError(ValueError):
    """A policy file could not be read or is invalid; each problem names file and field."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.source = source
        self.problems = tuple(problems)


def policies_dir() -> Traversable:
    """The shipped policies: the ``policies`` package's folder, in a checkout or a wheel.

    From a checkout (editable install) this is the repository's top-level ``policies/``;
    from a wheel it is ``policies/`` in site-packages. On a file system it is a `Path`.
    """
    return files(SHIPPED_POLICIES_PACKAGE)


def available_policies() -> tuple[str, ...]:
    """The names of the shipped policies (``policies/<name>.toml``), sorted."""
    return tuple(
        sorted(
            entry.name.removesuffix(".toml")
            for entry in policies_dir().iterdir()
            if entry.name.endswith(".toml") and entry.is_file()
        )
    )


def load_policy(path: str | os.PathLike[str]) -> TrustPolicy:
    """Read and validate one policy file; raise PolicyError naming the file and field."""
    return _load(Path(path), _display(Path(path)))


def _load(file: Traversable, source: str) -> TrustPolicy:
    try:
        with file.open("rb") as stream:
            data = tomllib.load(stream)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise PolicyError(source, [f"{source}: cannot read policy file: {reason}"]) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(source, [f"{source}: invalid TOML: {exc}"]) from exc
    return parse_policy(data, source=source)


def parse_policy(data: Mapping[str, Any], *, source: str = "<policy>") -> TrustPolicy:
    """Validate already-parsed TOML; errors are reported as in `load_policy`."""
    try:
        return TrustPolicy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(source, _describe_all(source, exc)) from None


def load_policy_named(name: str) -> TrustPolicy:
    """Load the shipped ``policies/<name>.toml`` (package data of ``policies``)."""
    if not _NAME.match(name):
        raise PolicyError(name, [f"{name!r} is not a policy name (lower case, digits, - or _)"])
    file = policies_dir() / f"{name}.toml"
    source = f"policies/{name}.toml"
    if not file.is_file():
        known = ", ".join(available_policies()) or "none"
        raise PolicyError(source, [f"{source}: no such policy; known: {known}"])
    return _load(file, source)


def resolve_policy(spec: str) -> TrustPolicy:
    """A policy by file path (anything with a slash or ending .toml) or by name."""
    if spec.endswith(".toml") or "/" in spec or os.sep in spec:
        return load_policy(spec)
    return load_policy_named(spec)


def policy_from_env(environ: Mapping[str, str] | None = None) -> TrustPolicy:
    """The policy named by CHRONICLE_POLICY (a path or a name), else ``default``."""
    env = os.environ if environ is None else environ
    return resolve_policy(env.get(POLICY_ENV_VAR, "").strip() or DEFAULT_POLICY_NAME)


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(_REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def _describe_all(source: str, exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"] if part != "[key]"]
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, _Problems):
            lines += [f"{source}: {_path(loc, sub)}: {msg}" for sub, msg in inner.problems]
        else:
            lines.append(f"{source}: {_path(loc, '')}: {_message(err)}")
    return lines


def _path(loc: list[str], sub: str) -> str:
    return ".".join([*loc, sub] if sub else loc) or "(top level)"


def _message(err: Any) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        return "unknown key: not a setting of the policy schema (see docs/policies.md)"
    if kind == "missing":
        return "required setting is missing"
    if kind == "literal_error":
        return f"unknown value {value!r}; expected one of {err['ctx']['expected']}"
    message = str(err["msg"]).removeprefix("Value error, ")
    if isinstance(value, str | int | float | bool) and repr(value) not in message:
        message += f" (got {value!r})"
    return message
