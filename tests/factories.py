"""Builders for test pupils; every name here is invented."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

from domain.pupil import Pupil
from domain.values import ConcernSource, Recorder, Role, upn_check_letter

SENDCO = Recorder("OAK-sendco-1", Role.SENDCO)
TEACHER = Recorder("OAK-teacher-1", Role.TEACHER)
RECORDED_AT = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
_serial = itertools.count(1)


def a_upn() -> str:
    body = f"87320412{next(_serial) % 10000:04d}"
    return upn_check_letter(body) + body


def a_pupil(
    given: str = "Zebedee",
    family: str = "Quartermaine",
    *,
    pupil_id: UUID | None = None,
    academy: str = "OAK",
    concerns: int = 1,
) -> Pupil:
    pupil = Pupil.register(
        pupil_id=pupil_id or uuid4(),
        upn=a_upn(),
        legal_given_names=given,
        legal_family_name=family,
        preferred_name=None,
        date_of_birth=date(2015, 5, 17),
        academy=academy,
        year_group=4,
        recorded_by=SENDCO,
        happened_on=date(2024, 9, 4),
        recorded_at=RECORDED_AT,
    )
    for n in range(concerns):
        add_concern(pupil, f"Concern {n}: struggles with phonics, note by Mrs Featherstonehaugh")
    return pupil


def add_concern(pupil: Pupil, description: str = "Finds transitions between lessons hard") -> None:
    pupil.raise_concern(
        source=ConcernSource.TEACHER,
        area_of_need=None,
        description=description,
        evidence="Observation",
        recorded_by=TEACHER,
        happened_on=date(2025, 1, 15),
        recorded_at=RECORDED_AT,
    )
