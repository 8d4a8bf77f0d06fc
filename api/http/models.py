"""The API's request and response bodies: typed, with examples for /docs.

Separate input and output models (the full-stack template's counter-lesson): a command body
says what the caller decides; who recorded it and when are taken from the token and clock.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.values import AreaOfNeed, ConcernSource, RegisterStatus, SubFlag


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterPupil(_Body):
    """Open a pupil's SEND record at an academy of the trust."""

    upn: str = Field(min_length=13, max_length=13, examples=["A873204120012"])
    legal_given_names: str = Field(min_length=1, max_length=200, examples=["Zebedee"])
    legal_family_name: str = Field(min_length=1, max_length=200, examples=["Quartermaine"])
    preferred_name: str | None = Field(default=None, max_length=200, examples=["Zeb"])
    date_of_birth: date = Field(examples=["2015-05-17"])
    academy: str = Field(min_length=1, max_length=64, examples=["OAK"])
    year_group: int = Field(ge=-2, le=14, examples=[4])
    happened_on: date | None = Field(
        default=None,
        description="When the record was opened; default today.",
        examples=["2024-09-04"],
    )


class RaiseConcern(_Body):
    """A concern about the pupil: the start of every chronology."""

    source: ConcernSource = Field(examples=["teacher"])
    area_of_need: AreaOfNeed | None = Field(default=None, examples=["cognition_and_learning"])
    description: str = Field(
        min_length=1, max_length=10_000, examples=["Finds transitions between lessons hard"]
    )
    evidence: str = Field(default="", max_length=10_000, examples=["Class observation"])
    happened_on: date | None = Field(
        default=None,
        description="When it happened (back-dating is normal); default today.",
        examples=["2025-01-15"],
    )


class ChangeRegisterStatus(_Body):
    """A move on the graduated response, as the trust's policy allows."""

    status: RegisterStatus = Field(examples=["monitoring"])
    sub_flags: list[SubFlag] = Field(default_factory=list, examples=[[]])
    reason: str = Field(
        min_length=1,
        max_length=10_000,
        examples=["Concerns persist after two terms of quality-first teaching"],
    )
    decision_maker: str = Field(min_length=1, max_length=200, examples=["OAK-sendco-1"])
    parents_informed_on: date | None = Field(default=None, examples=["2025-02-03"])
    happened_on: date | None = Field(default=None, examples=["2025-02-03"])


class Written(BaseModel):
    """What a write did: the pupil, the version it is now at and the new entry's number."""

    pupil_id: UUID
    version: int = Field(description="Send it as If-Match on your next write.", examples=[3])
    seq: int = Field(description="Sequence number of the new entry.", examples=[3])
    type: str = Field(examples=["ConcernRaised"])


class PupilRecord(BaseModel):
    """A pupil's details and current SEND status (the aggregate's state)."""

    pupil_id: UUID
    version: int = Field(examples=[5])
    upn: str = Field(examples=["A873204120012"])
    legal_given_names: str
    legal_family_name: str
    preferred_name: str | None
    date_of_birth: date
    academy: str = Field(examples=["OAK"])
    year_group_registered: int = Field(examples=[4])
    status: RegisterStatus
    sub_flags: list[SubFlag]
    needs: dict[str, bool] = Field(
        description="Census need code -> primary?", examples=[{"SLCN": True}]
    )
    left_trust: bool


class RegisterEntry(BaseModel):
    """One pupil on the register."""

    pupil_id: UUID
    upn: str | None
    name: str | None
    academy: str | None
    year_group: int | None
    status: str
    census_code: str | None = None
    primary_need: str | None = None


class ChronologyItem(BaseModel):
    """One entry of a chronology; `payload` and `recorded_by` are null when `masked`."""

    seq: int
    type: str = Field(examples=["ConcernRaised"])
    happened_on: date
    recorded_at: str = Field(examples=["2025-03-03T10:00:00.000000Z"])
    recorded_by: dict[str, str] | None
    payload: dict[str, Any] | None
    commitment: str
    restricted: bool
    masked: bool
    corrects_seq: int | None = None
    corrections: list[ChronologyItem] = Field(default_factory=list)


class Chronology(BaseModel):
    pupil_id: UUID
    entries: list[ChronologyItem]


class AccessRecord(BaseModel):
    """One read of the pupil's records."""

    seq: int
    recorded_at: str
    staff_id: str = Field(examples=["OAK-dsl-1"])
    role: str = Field(examples=["dsl"])
    what: str = Field(examples=["chronology"])
    purpose: str | None = Field(examples=["SAR-2025-014"])


class AccessLogOut(BaseModel):
    pupil_id: UUID
    records: list[AccessRecord]


class Checkpoint(BaseModel):
    """A signed checkpoint of the trust-wide log (docs/verifiable-export.md)."""

    checkpoint: dict[str, Any] = Field(
        examples=[
            {"log": "ab12...", "size": 42, "root": "9f86...", "issued_at": "2025-03-03T10:00:00Z"}
        ]
    )
    signature: str
    public_key: str


class Consistency(BaseModel):
    """A consistency proof (RFC 9162 2.1.4) between two sizes of the log."""

    old_size: int
    new_size: int
    old_root: str
    new_root: str
    proof: list[str]


class RegisterPage(BaseModel):
    """A page of the register, and how many pupils it has in all."""

    total: int
    pupils: list[RegisterEntry]
