"""The invented trust: academies, local authorities, staff ids, names and the phrases
its records use. Everything here is made up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from domain.values import (
    AgencyKind,
    AreaOfNeed,
    HistoryKind,
    NeedType,
    PlanKind,
    Recorder,
    Role,
    upn_check_letter,
)

# A fixed "today" keeps the demo identical whatever day it runs.
DEMO_TODAY = date(2026, 11, 2)
LOCAL_AUTHORITY = {"873": "Northshire County Council", "874": "Westvale Borough Council"}


@dataclass(frozen=True)
class Academy:
    code: str
    name: str
    la_code: str
    estab: str
    phase: str  # primary or secondary


ACADEMIES = (
    Academy("OAK", "Oakfield Primary Academy", "873", "2041", "primary"),
    Academy("RIV", "Riverside Academy", "873", "4012", "secondary"),
    Academy("HTH", "Heathfield Primary Academy", "874", "2107", "primary"),
    Academy("MDW", "Meadowbank Junior Academy", "874", "2233", "primary"),
)

GIVEN = (
    "Amelia Olivia Isla Ava Mia Ivy Lily Isabella Freya Sophia Grace Willow Aisha Zara "
    "Maryam Amira Hannah Chloe Ella Evie Poppy Ruby Layla Noor Fatima Priya Maja Zofia "
    "Oliver George Noah Arthur Muhammad Leo Harry Oscar Archie Henry Theo Jack Freddie "
    "Alfie Charlie Jacob Thomas Ibrahim Yusuf Ethan Reuben Kofi Tomasz Aarav Rohan Dylan"
).split()
FAMILY = (
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel Wright Robinson Thompson "
    "Evans Walker White Roberts Green Hall Wood Jackson Clarke Khan Ahmed Hussain Begum "
    "Ali Shah Kowalski Nowak Okafor Mensah Osei Campbell Murphy Kelly Hughes Edwards Lewis "
    "Harris Martin Cooper Ward Turner Hill Moore Baker Singh Kaur Chowdhury Afolabi"
).split()

CONCERNS = {
    AreaOfNeed.COGNITION_AND_LEARNING: (
        "Reading age well below chronological age; struggles to decode unfamiliar words.",
        "Slow progress in maths despite small-group intervention; loses place in multi-step tasks.",
        "Letter reversals persist; written work much weaker than oral answers.",
    ),
    AreaOfNeed.COMMUNICATION_AND_INTERACTION: (
        "Finds unstructured times hard; distressed by changes to routine.",
        "Limited expressive vocabulary; answers in single words in class discussion.",
        "Difficulty following two-part instructions; speech unclear to unfamiliar adults.",
    ),
    AreaOfNeed.SEMH: (
        "Frequent withdrawal from class; reports feeling anxious about tests.",
        "Several incidents of dysregulation after lunch; calms with a trusted adult.",
        "Low mood noticed by form tutor; attendance dipping on Mondays.",
    ),
    AreaOfNeed.SENSORY_PHYSICAL: (
        "Squints at the board and holds books very close; eye test recommended.",
        "Covers ears in assembly; finds the dining hall overwhelming.",
        "Fine motor difficulties: pencil grip and scissors skills well behind peers.",
    ),
}
EVIDENCE = (
    "Class teacher observation over four weeks; work samples attached to the paper file.",
    "Termly assessment data and teacher notes.",
    "Parent meeting notes and pupil conversation.",
    "Intervention tracker showing limited progress after six weeks.",
)
NEEDS_BY_AREA = {
    AreaOfNeed.COGNITION_AND_LEARNING: (NeedType.SPLD, NeedType.MLD),
    AreaOfNeed.COMMUNICATION_AND_INTERACTION: (NeedType.SLCN, NeedType.ASD),
    AreaOfNeed.SEMH: (NeedType.SEMH,),
    AreaOfNeed.SENSORY_PHYSICAL: (NeedType.VI, NeedType.HI, NeedType.PD),
}
TARGETS = {
    AreaOfNeed.COGNITION_AND_LEARNING: (
        ("Reads a book band 5 text at 90% accuracy", "Running record"),
        ("Recalls number bonds to 20 in under a minute", "Timed check"),
        ("Writes three linked sentences with full stops", "Independent writing sample"),
    ),
    AreaOfNeed.COMMUNICATION_AND_INTERACTION: (
        ("Follows a two-part instruction without a prompt", "Teacher tally, 4 of 5 days"),
        ("Uses a visual timetable to move between activities", "TA observation"),
        ("Takes turns in a structured game for ten minutes", "Lunchtime observation"),
    ),
    AreaOfNeed.SEMH: (
        ("Uses the calm box instead of leaving the room", "Behaviour log, weekly"),
        ("Names the feeling on the emotions chart at check-in", "Key adult record"),
        ("Attends every Monday for a half term", "Attendance register"),
    ),
    AreaOfNeed.SENSORY_PHYSICAL: (
        ("Uses the sloped board and pencil grip without reminders", "TA observation"),
        ("Copies from a near-point copy of the board", "Work sample"),
        ("Uses ear defenders to stay in assembly", "Assembly observation"),
    ),
}
AGENCIES = {
    AreaOfNeed.COGNITION_AND_LEARNING: (AgencyKind.EDUCATIONAL_PSYCHOLOGIST, "EP Service"),
    AreaOfNeed.COMMUNICATION_AND_INTERACTION: (AgencyKind.SPEECH_AND_LANGUAGE_THERAPY, "SALT"),
    AreaOfNeed.SEMH: (AgencyKind.CAMHS, "CAMHS Schools Link Team"),
    AreaOfNeed.SENSORY_PHYSICAL: (AgencyKind.OCCUPATIONAL_THERAPY, "Children's OT"),
}
SUPPORT_PLANS = {
    AreaOfNeed.COGNITION_AND_LEARNING: (PlanKind.ONE_PAGE_PROFILE, PlanKind.STRATEGY_SHEET),
    AreaOfNeed.COMMUNICATION_AND_INTERACTION: (PlanKind.ONE_PAGE_PROFILE, PlanKind.STRATEGY_SHEET),
    AreaOfNeed.SEMH: (PlanKind.BEHAVIOUR_PLAN, PlanKind.RISK_ASSESSMENT, PlanKind.ONE_PAGE_PROFILE),
    AreaOfNeed.SENSORY_PHYSICAL: (
        PlanKind.HEALTH_CARE_PLAN, PlanKind.PEEP, PlanKind.RISK_ASSESSMENT,
        PlanKind.INTIMATE_CARE_PLAN,
    ),
}  # fmt: skip
# Entries of a pupil's earlier history as a provision-mapping product held them.
IMPORTED_HISTORY = (
    (
        HistoryKind.CONCERN,
        "Reading fluency",
        "Class teacher concerned about decoding; phonics check 19/40.",
    ),
    (
        HistoryKind.PLAN,
        "Provision map: literacy group",
        "Small-group phonics, 3 x 20 minutes a week, with the TA.",
    ),
    (
        HistoryKind.REVIEW,
        "Termly provision review",
        "Reading age up five months; group continues next term.",
    ),
    (
        HistoryKind.NOTE,
        "Parent meeting",
        "Parents shared the paediatrician's letter; copy on the paper file.",
    ),
    (
        HistoryKind.AGENCY_INVOLVEMENT,
        "Speech and language therapy",
        "Referred to the NHS SaLT service; initial assessment booked.",
    ),
)
BRIEF_NOTES = (
    "The DSL has logged this on CPOMS; speak to the DSL before contacting home.",
    "See CPOMS. Ask the DSL for context before the review meeting.",
    "DSL aware and the record is on CPOMS; no action needed from class staff.",
)
VOICES = (
    ("I like working with Miss in the small group.", "We can see the difference at home."),
    ("The timetable helps me know what is next.", "Mornings are calmer now."),
    ("Sometimes it is still too noisy.", "We would like more updates by email."),
)


def staff(academy: Academy, role: Role, n: int = 1) -> Recorder:
    return Recorder(f"{academy.code}-{role.value}-{n}", role)


def upn(academy: Academy, year: int, index: int) -> str:
    body = f"{academy.la_code}{academy.estab}{year % 100:02d}{index % 1000:03d}"
    return upn_check_letter(body) + body
