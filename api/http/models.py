"""The API's response bodies: typed, with examples for /docs.

Request bodies are the application layer's (`api.app.bodies`): the web and the CLI send
the same ones. Separate input and output models (the full-stack template's
counter-lesson)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from domain.values import RegisterStatus, SubFlag


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


# ----- read models and exports (api/http/reads.py, api/http/exports.py) ----------------------


class RegisterRowOut(BaseModel):
    """One pupil on the SEND register."""

    pupil_id: UUID
    upn: str | None = Field(description="Null if the records cannot be read (being purged).")
    name: str | None = Field(examples=["Zeb Quartermaine"])
    academy: str | None = Field(examples=["OAK"])
    year_group: int | None = Field(examples=[5])
    status: str = Field(examples=["sen_support"])
    census_code: str = Field(examples=["K"])
    sub_flags: list[str] = Field(examples=[["specialist_send_support"]])
    primary_need: str | None = Field(examples=["SLCN"])
    secondary_needs: list[str] = Field(examples=[["SPLD"]])
    since: date = Field(description="On this status since.", examples=["2025-02-03"])
    key_worker: str | None = Field(
        description="Staff id of the named key worker, else of who made the last register "
        "decision.",
        examples=["OAK-sendco-1"],
    )


class CensusCounts(BaseModel):
    """One academy's census counts: pupils by code, and K and E by primary need."""

    academy: str = Field(examples=["OAK"])
    N: int = Field(examples=[12])
    K: int = Field(examples=[30])
    E: int = Field(examples=[4])
    primary_need: dict[str, dict[str, int]] = Field(examples=[{"SLCN": {"K": 9, "E": 1}}])


class RegisterOut(BaseModel):
    """A page of the SEND register, how many pupils match in all, and census counts of the
    academies shown (all pupils on the register there, whatever the filters)."""

    total: int
    pupils: list[RegisterRowOut]
    counts: list[CensusCounts]


class DeadlineOut(BaseModel):
    """An open deadline: `days` is how many remain (negative: overdue by)."""

    pupil_id: UUID
    name: str | None = Field(examples=["Zeb Quartermaine"])
    rule: str = Field(examples=["plan_review"])
    party: str = Field(
        description="Whose step it is: `school`, or `local_authority` (the LA's statutory "
        "clocks, listed apart: an overdue one is the LA's lateness).",
        examples=["school"],
    )
    what: str = Field(examples=["review the plan"])
    detail: str | None = Field(examples=["individual_plan"])
    academy: str = Field(examples=["OAK"])
    responsible: str = Field(description="Staff id.", examples=["OAK-sendco-1"])
    opened_seq: int = Field(description="The entry that opened it.", examples=[4])
    opened_on: date
    due_on: date
    status: str = Field(examples=["overdue"])
    days: int = Field(examples=[-3])


class DeadlinesOut(BaseModel):
    as_of: date
    total: int
    deadlines: list[DeadlineOut]


class CrossReferenceOut(BaseModel):
    """A safeguarding cross-reference: where the CPOMS log is and what the DSL decided (the
    brief note stays in the pupil's chronology)."""

    pupil_id: UUID
    name: str | None = Field(examples=["Zeb Quartermaine"])
    seq: int
    academy: str = Field(description="The pupil's academy now.", examples=["OAK"])
    added_at_academy: str = Field(examples=["OAK"])
    cpoms_log_id: str = Field(examples=["CP-00042"])
    added_by: str = Field(examples=["OAK-sendco-1"])
    added_role: str = Field(examples=["sendco"])
    added_on: date
    recorded_at: str
    dsl_decision: str = Field(examples=["early_help"])
    decided_by: str | None = Field(examples=["OAK-dsl-1"])
    corrected_by: int | None = Field(description="Seq of a correction of this entry, if any.")


class CrossReferencesOut(BaseModel):
    total: int
    cross_references: list[CrossReferenceOut]


class AwaitingDecisionOut(BaseModel):
    """A pupil with social, emotional and mental health concerns no DSL decision followed."""

    pupil_id: UUID
    name: str | None = Field(examples=["Zeb Quartermaine"])
    academy: str = Field(examples=["OAK"])
    concern_seqs: list[int] = Field(examples=[[3, 7]])
    first_raised_on: date
    raised_by: list[str] = Field(examples=[["OAK-teacher-1"]])


class AwaitingDecisionPage(BaseModel):
    total: int
    pupils: list[AwaitingDecisionOut]


class AccessLogRow(BaseModel):
    """One read of a pupil's records, across pupils (the access-log read model)."""

    pupil_id: UUID
    seq: int = Field(description="The entry's number in the pupil's access stream.")
    staff_id: str = Field(examples=["OAK-sendco-1"])
    role: str = Field(examples=["sendco"])
    what: str = Field(examples=["chronology"])
    detail: str | None = Field(
        default=None, description="The full `what` (a chronology read's filters, say)."
    )
    read_on: date
    recorded_at: str = Field(examples=["2025-03-03T10:00:00.000000Z"])
    academy: str | None = Field(description="The pupil's academy when it was read.")
    purpose: str | None = Field(examples=["SAR-2025-014"])


class AccessLogPage(BaseModel):
    """Reads of pupils' records, most recent last."""

    entries: list[AccessLogRow]
