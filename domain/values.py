"""Value objects of the SEND record: identifiers, codes and small typed facts."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from domain.errors import InvalidUPN

# DfE "Unique Pupil Numbers" guidance: 23 letters, I, O and S left out.
_UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
_UPN_SHAPE = re.compile(r"^[A-HJ-NP-RT-Z]\d{11}[0-9A-HJ-NP-RT-Z]$")


def upn_check_letter(body: str) -> str:
    """The check letter for the last 12 characters of a UPN (weights 2..13, mod 23)."""
    total = 0
    for weight, char in enumerate(body, start=2):
        value = int(char) if char.isdigit() else _UPN_LETTERS.index(char)
        total += value * weight
    return _UPN_LETTERS[total % 23]


def validate_upn(upn: str) -> str:
    """Return the UPN if it is well formed and its check letter is right; else raise."""
    if not isinstance(upn, str) or not _UPN_SHAPE.match(upn):
        raise InvalidUPN(
            f"UPN {upn!r} is not valid: it must be 13 characters, a check letter, "
            "11 digits and a final digit or letter (no I, O or S)"
        )
    expected = upn_check_letter(upn[1:])
    if upn[0] != expected:
        raise InvalidUPN(
            f"UPN {upn!r} has the wrong check letter: for these digits it should start "
            f"with {expected!r}; check the number against the pupil's record"
        )
    return upn


def school_year(day: date) -> int:
    """The calendar year in which the school year holding `day` began (September)."""
    return day.year if day.month >= 9 else day.year - 1


def year_group_on(registered_year_group: int, registered_on: date, day: date) -> int:
    """The year group on `day` of a pupil registered in a year group; pupils move up each
    September."""
    return registered_year_group + max(0, school_year(day) - school_year(registered_on))


def add_months(day: date, months: int) -> date:
    """`day` moved on by whole calendar months; the 31st becomes the month's last day."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def add_school_days(day: date, days: int) -> date:
    """`day` moved on by `days` weekdays (holidays are not known to the domain)."""
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


class Role(StrEnum):
    """The role a person acts in; what each may read is the trust policy's to say."""

    SENDCO = "sendco"
    TEACHER = "teacher"
    DSL = "dsl"
    DPO = "dpo"
    TRIBUNAL = "tribunal"
    TRUST_ADMIN = "trust_admin"
    AUDITOR = "auditor"


class RegisterStatus(StrEnum):
    """The graduated response; census code N for none/monitoring, K, E."""

    NONE = "none"
    MONITORING = "monitoring"
    SEN_SUPPORT = "sen_support"
    EHCP = "ehcp"

    @property
    def census_code(self) -> str:
        return {"sen_support": "K", "ehcp": "E"}.get(self.value, "N")


class SubFlag(StrEnum):
    """Qualifiers of SEN support: no specialist assessment (NSA), or specialist SEND support
    (an outside professional is involved)."""

    NSA = "nsa"
    SPECIALIST_SEND_SUPPORT = "specialist_send_support"


class ConcernSource(StrEnum):
    """Who raised a concern."""

    TEACHER = "teacher"
    PARENT = "parent"
    PUPIL = "pupil"
    EXTERNAL = "external"


class AreaOfNeed(StrEnum):
    """The four broad areas of need of the SEND Code of Practice."""

    COGNITION_AND_LEARNING = "cognition_and_learning"
    COMMUNICATION_AND_INTERACTION = "communication_and_interaction"
    SEMH = "social_emotional_mental_health"
    SENSORY_PHYSICAL = "sensory_and_physical"


class NeedType(StrEnum):
    """School census SEN type codes."""

    SPLD = "SPLD"
    MLD = "MLD"
    SLD = "SLD"
    PMLD = "PMLD"
    SEMH = "SEMH"
    SLCN = "SLCN"
    HI = "HI"
    VI = "VI"
    MSI = "MSI"
    PD = "PD"
    ASD = "ASD"
    OTH = "OTH"
    NSA = "NSA"

    @property
    def area(self) -> AreaOfNeed | None:
        """The broad area of need; None for OTH and NSA, which name no area."""
        return _NEED_AREAS.get(self)


_NEED_AREAS = {
    NeedType.SPLD: AreaOfNeed.COGNITION_AND_LEARNING,
    NeedType.MLD: AreaOfNeed.COGNITION_AND_LEARNING,
    NeedType.SLD: AreaOfNeed.COGNITION_AND_LEARNING,
    NeedType.PMLD: AreaOfNeed.COGNITION_AND_LEARNING,
    NeedType.SEMH: AreaOfNeed.SEMH,
    NeedType.SLCN: AreaOfNeed.COMMUNICATION_AND_INTERACTION,
    NeedType.ASD: AreaOfNeed.COMMUNICATION_AND_INTERACTION,
    NeedType.HI: AreaOfNeed.SENSORY_PHYSICAL,
    NeedType.VI: AreaOfNeed.SENSORY_PHYSICAL,
    NeedType.MSI: AreaOfNeed.SENSORY_PHYSICAL,
    NeedType.PD: AreaOfNeed.SENSORY_PHYSICAL,
}


@dataclass(frozen=True)
class Recorder:
    """Who recorded an entry: a staff id (never a name) and the role they acted in."""

    staff_id: str
    role: Role


class HistoryKind(StrEnum):
    """What an entry imported from another product was there (`HistoryImported`)."""

    CONCERN = "concern"
    NOTE = "note"
    PLAN = "plan"
    REVIEW = "review"
    AGENCY_INVOLVEMENT = "agency_involvement"


@dataclass(frozen=True)
class Provenance:
    """Where an imported entry came from, as the source gave it: the product, the source
    record's id, its original author and recorded time (text, unchecked: the source's own
    formats). Who imported it, and when, are the entry's `recorded_by` and `recorded_at`."""

    source: str
    source_id: str
    original_author: str
    original_recorded_at: str


class PlanKind(StrEnum):
    """Plans a trust's policy may use (policy `plans.kinds`); behaviour_plan includes RACSPs."""

    INDIVIDUAL_PLAN = "individual_plan"
    ONE_PAGE_PROFILE = "one_page_profile"
    STRATEGY_SHEET = "strategy_sheet"
    HEALTH_CARE_PLAN = "health_care_plan"
    PEEP = "peep"
    RISK_ASSESSMENT = "risk_assessment"
    INTIMATE_CARE_PLAN = "intimate_care_plan"
    BEHAVIOUR_PLAN = "behaviour_plan"
    INTERIM_REDUCED_TIMETABLE = "interim_reduced_timetable"
    EXAM_ACCESS = "exam_access"


class Participant(StrEnum):
    """Who agreed a plan."""

    PUPIL = "pupil"
    PARENT = "parent"
    TEACHER = "teacher"
    SENDCO = "sendco"
    PRINCIPAL = "principal"
    HEAD_OF_INCLUSION = "head_of_inclusion"
    EXTERNAL_PROFESSIONAL = "external_professional"


class TargetOutcome(StrEnum):
    """How far a plan's target was met at a review."""

    ACHIEVED = "achieved"
    PARTLY = "partly"
    NOT_YET = "not_yet"


@dataclass(frozen=True)
class SmartOutcome:
    """A SMART target of a plan: what, how it is measured, and by when."""

    target: str
    measure: str
    by_when: date


@dataclass(frozen=True)
class TargetReview:
    """The outcome of one of the plan's targets at a review; `target` repeats its text."""

    target: str
    outcome: TargetOutcome


class AgencyKind(StrEnum):
    """Services outside the school that assess, advise or support a pupil."""

    EDUCATIONAL_PSYCHOLOGIST = "educational_psychologist"
    SPEECH_AND_LANGUAGE_THERAPY = "speech_and_language_therapy"
    CAMHS = "camhs"
    OCCUPATIONAL_THERAPY = "occupational_therapy"
    PHYSIOTHERAPY = "physiotherapy"
    PAEDIATRICS = "paediatrics"
    SCHOOL_NURSING = "school_nursing"
    SPECIALIST_TEACHER = "specialist_teacher"
    SENSORY_SUPPORT = "sensory_support"
    SOCIAL_CARE = "social_care"
    EARLY_HELP = "early_help"
    OTHER = "other"


class AssessmentRequester(StrEnum):
    """Who asked the local authority for an EHC needs assessment."""

    SCHOOL = "school"
    PARENT = "parent"
    YOUNG_PERSON = "young_person"
    OTHER_PROFESSIONAL = "other_professional"


class ReviewRecommendation(StrEnum):
    """What an annual review recommends to the local authority about the EHC plan."""

    MAINTAIN = "maintain"
    AMEND = "amend"
    CEASE = "cease"


class AssessmentDecision(StrEnum):
    """The local authority's decision on a request for an EHC needs assessment."""

    ASSESS = "assess"
    NOT_ASSESS = "not_assess"


class IssueDecision(StrEnum):
    """The local authority's decision, after an EHC needs assessment, on issuing a plan."""

    ISSUE = "issue"
    NOT_ISSUE = "not_issue"


class DslDecision(StrEnum):
    """What the designated safeguarding lead decided about a matter logged on CPOMS."""

    MONITOR_IN_SCHOOL = "monitor_in_school"
    EARLY_HELP = "early_help"
    REFERRED_TO_CHILDRENS_SOCIAL_CARE = "referred_to_childrens_social_care"
    NO_FURTHER_ACTION = "no_further_action"
    # The DSL looked at a SEND concern and decided it is not a safeguarding matter: nothing
    # is logged in CPOMS, so the entry has no log id; only a DSL records it.
    NOT_SAFEGUARDING = "not_safeguarding"


class AgreementKind(StrEnum):
    """What parents or carers signed their agreement to."""

    SEND_SUPPORT = "send_support"
    EXTERNAL_PROFESSIONALS = "external_professionals"
    INTERIM_REDUCED_TIMETABLE = "interim_reduced_timetable"
    INFORMATION_SHARING = "information_sharing"
    EHCP_DISCLOSURE = "ehcp_disclosure"
    INTIMATE_CARE = "intimate_care"


class ExamArrangement(StrEnum):
    """Access arrangements for tests and examinations (JCQ and KS2 vocabulary)."""

    EXTRA_TIME = "extra_time"
    READER = "reader"
    SCRIBE = "scribe"
    WORD_PROCESSOR = "word_processor"
    SUPERVISED_REST_BREAKS = "supervised_rest_breaks"
    SEPARATE_ROOM = "separate_room"
    PROMPTER = "prompter"
    MODIFIED_PAPERS = "modified_papers"


class TransitionKind(StrEnum):
    """A planned move: between phases, to post-16, to another setting, or to a new class."""

    PHASE_TRANSFER = "phase_transfer"
    POST16 = "post16"
    NEW_SETTING = "new_setting"
    YEAR_GROUP = "year_group"


class DisclosurePurpose(StrEnum):
    """Why records left the trust. The first seven are the purposes a policy may permit an
    EHC plan to be disclosed for without parental consent (policy `disclosure`)."""

    SEND_TRIBUNAL_APPEAL = "send_tribunal_appeal"
    SECRETARY_OF_STATE = "secretary_of_state"
    CRIMINAL_COURT_ORDER = "criminal_court_order"
    MALADMINISTRATION_INVESTIGATION = "maladministration_investigation"
    SAFEGUARDING_WELFARE_DUTIES = "safeguarding_welfare_duties"
    OFSTED_INSPECTION = "ofsted_inspection"
    NEXT_SETTING_HEADTEACHER = "next_setting_headteacher"
    SUBJECT_ACCESS = "subject_access"
    COPY_TO_PARENTS = "copy_to_parents"
    OTHER = "other"
