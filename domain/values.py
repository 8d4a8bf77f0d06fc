"""Value objects of the SEND record: identifiers, codes and small typed facts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
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


def year_group_on(registered_year_group: int, registered_on: date, day: date) -> int:
    """The year group on `day` of a pupil registered in a year group; pupils move up each
    September."""

    def school_year(d: date) -> int:
        return d.year if d.month >= 9 else d.year - 1

    return registered_year_group + max(0, school_year(day) - school_year(registered_on))


class Role(StrEnum):
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
    NSA = "nsa"
    SPECIALIST_SEND_SUPPORT = "specialist_send_support"


class ConcernSource(StrEnum):
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
