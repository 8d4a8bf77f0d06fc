"""A deterministic synthetic trust: academies, staff, pupils and years of SEND history.

Everything here is invented. The same seed always gives the same pupils, ids, names,
dates and entries (salts and nonces are random, so the stored bytes differ).
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from api.application import PupilRecords
from domain.pupil import Pupil
from domain.values import (
    AreaOfNeed,
    ConcernSource,
    NeedType,
    Recorder,
    RegisterStatus,
    Role,
    SubFlag,
    upn_check_letter,
)

# A fixed "today" keeps the demo identical whatever day it runs.
DEMO_TODAY = date(2026, 11, 2)


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


@dataclass(frozen=True)
class DemoSummary:
    pupils: int
    events: int
    academies: tuple[str, ...]
    first_pupil: UUID | None


def staff(academy: Academy, role: Role, n: int = 1) -> Recorder:
    return Recorder(f"{academy.code}-{role.value}-{n}", role)


def generate(records: PupilRecords, pupils: int = 200, seed: int = 2026) -> DemoSummary:
    """Write a synthetic trust of `pupils` pupils into `records`; deterministic per seed."""
    rng = random.Random(seed)
    events = 0
    first: UUID | None = None
    for index in range(pupils):
        pupil = _story(rng, index)
        events += len(pupil.pending_events)
        records.save(pupil)
        first = first or pupil.id
    return DemoSummary(pupils, events, tuple(a.code for a in ACADEMIES), first)


def _story(rng: random.Random, index: int) -> Pupil:
    academy = ACADEMIES[index % len(ACADEMIES)]
    year_now = rng.randint(1, 6) if academy.phase == "primary" else rng.randint(7, 11)
    first_year = 0 if academy.phase == "primary" else 7
    school_year = DEMO_TODAY.year if DEMO_TODAY.month >= 9 else DEMO_TODAY.year - 1
    years_here = rng.randint(0, min(3, year_now - first_year))
    joined = date(school_year - years_here, 9, rng.randint(2, 8))
    born = school_year - year_now - 5  # England: born September to August
    month = rng.randint(1, 12)
    dob = date(born if month >= 9 else born + 1, month, rng.randint(1, 28))
    year_group = year_now - years_here
    sendco, teacher = staff(academy, Role.SENDCO), staff(academy, Role.TEACHER, rng.randint(1, 6))
    clock = _Clock(rng, joined)
    pupil = Pupil.register(
        pupil_id=UUID(int=rng.getrandbits(128), version=4),
        upn=_upn(academy, joined.year, index),
        legal_given_names=rng.choice(GIVEN),
        legal_family_name=rng.choice(FAMILY),
        preferred_name=None,
        date_of_birth=dob,
        academy=academy.code,
        year_group=year_group,
        recorded_by=sendco,
        happened_on=joined,
        recorded_at=clock.recorded(joined),
    )
    with contextlib.suppress(_ReachedToday):  # the story is still unfolding
        _graduated_response(rng, pupil, clock, sendco, teacher)
    return pupil


def _graduated_response(
    rng: random.Random, pupil: Pupil, clock: _Clock, sendco: Recorder, teacher: Recorder
) -> None:
    """Record one pupil's history: concerns, then as far up the graduated response as
    their `depth`, with the occasional correction."""
    area = rng.choice(list(AreaOfNeed))
    depth = rng.choices([0, 1, 2, 3], weights=[15, 30, 40, 15])[0]
    for _ in range(rng.randint(1, 3)):
        day = clock.next(14, 60)
        pupil.raise_concern(
            source=rng.choice([ConcernSource.TEACHER, ConcernSource.PARENT, ConcernSource.PUPIL]),
            area_of_need=area,
            description=rng.choice(CONCERNS[area]),
            evidence=rng.choice(EVIDENCE),
            recorded_by=teacher,
            happened_on=day,
            recorded_at=clock.recorded(day),
        )
    if rng.random() < 0.15:
        day = clock.next(1, 20)
        pupil.correct_entry(
            corrects_seq=2,
            what_was_wrong="The concern was dated on the day it was typed up.",
            correction="The concern was first raised at parents' evening a week earlier.",
            reason="Date corrected after checking the class teacher's notes.",
            recorded_by=sendco,
            happened_on=day,
            recorded_at=clock.recorded(day),
        )
    if depth >= 1:
        _status(pupil, clock, sendco, RegisterStatus.MONITORING, ())
    if depth >= 2:
        day = clock.next(20, 80)
        pupil.record_need(
            need=rng.choice(NEEDS_BY_AREA[area]),
            primary=True,
            notes="Identified at the assess stage of the APDR cycle.",
            recorded_by=sendco,
            happened_on=day,
            recorded_at=clock.recorded(day),
        )
        flags = (SubFlag.NSA,) if rng.random() < 0.3 else ()
        _status(pupil, clock, sendco, RegisterStatus.SEN_SUPPORT, flags)
        if rng.random() < 0.5:
            specialist = (SubFlag.SPECIALIST_SEND_SUPPORT,)
            _status(pupil, clock, sendco, RegisterStatus.SEN_SUPPORT, specialist)
    if depth >= 3:
        _status(pupil, clock, sendco, RegisterStatus.EHCP, ())


_REASONS = {
    RegisterStatus.MONITORING: "Concern logged; adjustments to teaching to be monitored.",
    RegisterStatus.SEN_SUPPORT: "Little progress despite targeted intervention; SEN support.",
    RegisterStatus.EHCP: "EHC plan issued by the local authority.",
}


def _status(
    pupil: Pupil,
    clock: _Clock,
    sendco: Recorder,
    status: RegisterStatus,
    flags: tuple[SubFlag, ...],
) -> None:
    day = clock.next(30, 120)
    pupil.change_register_status(
        status=status,
        sub_flags=flags,
        reason=_REASONS[status],
        decision_maker=sendco.staff_id,
        parents_informed_on=day,
        recorded_by=sendco,
        happened_on=day,
        recorded_at=clock.recorded(day),
    )


class _ReachedToday(Exception):
    """The next step of a story would fall after DEMO_TODAY."""


class _Clock:
    """Walks forward through school days, never past DEMO_TODAY."""

    def __init__(self, rng: random.Random, start: date) -> None:
        self.rng, self.day = rng, start
        self.last = datetime.combine(start, time(0), tzinfo=UTC)

    def next(self, low: int, high: int) -> date:
        day = self.day + timedelta(days=self.rng.randint(low, high))
        while day.weekday() >= 5:
            day += timedelta(days=1)
        if day >= DEMO_TODAY:
            raise _ReachedToday
        self.day = day
        return day

    def recorded(self, day: date) -> datetime:
        lag = timedelta(days=self.rng.choice([0, 0, 0, 1, 2, 7]))
        moment = datetime.combine(min(day + lag, DEMO_TODAY), time(8), tzinfo=UTC)
        moment += timedelta(minutes=self.rng.randint(0, 9 * 60))
        # Entries are recorded in order: a later entry is never recorded before an earlier one.
        self.last = max(moment, self.last + timedelta(minutes=1))
        return self.last


def _upn(academy: Academy, year: int, index: int) -> str:
    body = f"{academy.la_code}{academy.estab}{year % 100:02d}{index % 1000:03d}"
    return upn_check_letter(body) + body
