"""The safeguarding cross-reference index for DSLs, and SEND concerns awaiting their decision.

Harmony's policy (seed 000, §11): where SEND meets safeguarding, staff report to the DSL,
the DSL decides whether it is a safeguarding matter for CPOMS, and the SENDCo adds a brief
note to the chronology pointing at the CPOMS log. The index lists every cross-reference:
the CPOMS log id, pupil, academy, who added it and when, the DSL's decision and who made
it. The brief note is free text and stays in the encrypted entry.

Which concerns "meet safeguarding" is a judgement no entry records; the indicator used
here is a concern in the social, emotional and mental health area (the area of the
policy's behaviour, trauma and wellbeing indicators). Such a concern awaits a DSL decision
until a cross-reference that happened on or after it is recorded for the pupil.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    select,
)
from sqlalchemy.orm import Session

from domain.values import AreaOfNeed
from projections.base import ProjectedEvent
from projections.bulk import PupilRows
from projections.ports import ReadStore
from projections.runner import ProjectionError, resumed_pupils

# The decision shown for a safeguarding record imported from another product (docs/import.md).
IMPORTED = "imported"
# Concern areas that go to the DSL (see the module docstring).
DSL_AREAS = frozenset({AreaOfNeed.SEMH.value})

metadata = MetaData()
safeguarding_pupils = Table(
    "safeguarding_pupils",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("academy", String(40), nullable=False),
)
safeguarding_crossrefs = Table(
    "safeguarding_crossrefs",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("academy", String(40), nullable=False),  # the pupil's academy now
    Column("added_at_academy", String(40), nullable=False),
    Column("cpoms_log_id", String(64), nullable=False),
    Column("added_by", String(64), nullable=False),
    Column("added_role", String(20), nullable=False),
    Column("added_on", Date, nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("dsl_decision", String(40), nullable=False),
    Column("decided_by", String(64), nullable=True),
    Column("corrected_by_seq", Integer, nullable=True),
)
safeguarding_concerns = Table(
    "safeguarding_concerns",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("academy", String(40), nullable=False),
    Column("area", String(40), nullable=False),
    Column("raised_on", Date, nullable=False),
    Column("raised_by", String(64), nullable=False),
    Column("decision_seq", Integer, nullable=True),  # the cross-reference that answered it
)
_ROWS = (safeguarding_pupils, safeguarding_crossrefs, safeguarding_concerns)


class SafeguardingIndex:
    """Keeps the DSL's cross-reference index and awaiting-decision list current."""

    name = "safeguarding"
    tables: tuple[Table, ...] = _ROWS
    event_types: frozenset[str] | None

    def __init__(self) -> None:
        self._handlers: dict[str, Callable[[PupilRows, ProjectedEvent, dict[str, Any]], None]] = {
            "PupilRegistered": _registered,
            "TransferredWithinTrust": _transferred,
            "PupilRejoined": _rejoined,
            "ConcernRaised": _concern_raised,
            "SafeguardingCrossReferenced": _cross_referenced,
            "SafeguardingReferenceImported": _reference_imported,
            "EntryCorrected": _corrected,
            "RecordsPurged": _purged,
        }
        self.event_types = frozenset(self._handlers)

    def apply(self, session: Session, event: ProjectedEvent) -> None:
        self.apply_batch(session, [event])

    def apply_batch(self, session: Session, events: Sequence[ProjectedEvent]) -> None:
        """Apply a batch in commit order on the touched pupils' rows held in memory, then
        write what changed in bulk."""
        rows = PupilRows(session, self.tables)
        rows.load(resumed_pupils(events))
        for event in events:
            if event.payload is None:
                continue  # shredded: the tombstone (RecordsPurged) does the clean-up
            handler = self._handlers.get(event.type)
            if handler is not None:
                handler(rows, event, event.payload)
        rows.flush()


def _registered(rows: PupilRows, event: ProjectedEvent, p: dict[str, Any]) -> None:
    rows.add(safeguarding_pupils, {"pupil_id": event.pupil_id, "academy": p["academy"]})


def _transferred(rows: PupilRows, event: ProjectedEvent, p: dict[str, Any]) -> None:
    # The receiving academy's DSL now holds the pupil's safeguarding picture.
    for table in _ROWS:
        for row in rows.rows(table, event.pupil_id):
            row["academy"] = p["to_academy"]
            rows.changed(table, row)


def _rejoined(rows: PupilRows, event: ProjectedEvent, p: dict[str, Any]) -> None:
    # Back on roll at an academy: its DSL holds the pupil's safeguarding picture again.
    _transferred(rows, event, {"to_academy": p["academy"]})


def _concern_raised(rows: PupilRows, event: ProjectedEvent, p: dict[str, Any]) -> None:
    if p["area_of_need"] not in DSL_AREAS:
        return
    rows.add(
        safeguarding_concerns,
        {
            "pupil_id": event.pupil_id,
            "seq": event.seq,
            "academy": _academy(rows, event),
            "area": p["area_of_need"],
            "raised_on": date.fromisoformat(p["happened_on"]),
            "raised_by": p["recorded_by"]["staff_id"],
            "decision_seq": None,
        },
    )


def _cross_referenced(rows: PupilRows, event: ProjectedEvent, p: dict[str, Any]) -> None:
    academy = _academy(rows, event)
    day = date.fromisoformat(p["happened_on"])
    rows.add(
        safeguarding_crossrefs,
        {
            "pupil_id": event.pupil_id,
            "seq": event.seq,
            "academy": academy,
            "added_at_academy": academy,
            "cpoms_log_id": p["cpoms_log_id"],
            "added_by": p["recorded_by"]["staff_id"],
            "added_role": p["recorded_by"]["role"],
            "added_on": day,
            "recorded_at": p["recorded_at"],
            "dsl_decision": p["dsl_decision"],
            "decided_by": p["decided_by"],
            "corrected_by_seq": None,
        },
    )
    for concern in rows.rows(safeguarding_concerns, event.pupil_id):
        if concern["decision_seq"] is None and concern["raised_on"] <= day:
            concern["decision_seq"] = event.seq
            rows.changed(safeguarding_concerns, concern)


def _reference_imported(rows: PupilRows, event: ProjectedEvent, p: dict[str, Any]) -> None:
    """A safeguarding record brought in from another product: listed with the others; the
    DSL's decision is in that product ("imported" here), its source in the entry."""
    _cross_referenced(rows, event, {**p, "dsl_decision": IMPORTED, "decided_by": None})


def _corrected(rows: PupilRows, event: ProjectedEvent, p: dict[str, Any]) -> None:
    for crossref in rows.rows(safeguarding_crossrefs, event.pupil_id):
        if crossref["seq"] == p["corrects_seq"]:
            crossref["corrected_by_seq"] = event.seq
            rows.changed(safeguarding_crossrefs, crossref)


def _purged(rows: PupilRows, event: ProjectedEvent, p: dict[str, Any]) -> None:
    rows.wipe(event.pupil_id)


def _academy(rows: PupilRows, event: ProjectedEvent) -> str:
    found = rows.rows(safeguarding_pupils, event.pupil_id)
    if not found:
        raise ProjectionError(
            f"safeguarding: entry {event.seq} of pupil {event.pupil_id} ({event.type}) came "
            "before the pupil's registration was applied; run `chronicle projections rebuild "
            "safeguarding`"
        )
    academy: str = found[0]["academy"]
    return academy


# ----- reading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CrossReference:
    pupil_id: UUID
    seq: int
    academy: str
    added_at_academy: str
    cpoms_log_id: str
    added_by: str
    added_role: str
    added_on: date
    recorded_at: str
    dsl_decision: str
    decided_by: str | None
    corrected_by: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "pupil_id": str(self.pupil_id),
            "seq": self.seq,
            "academy": self.academy,
            "added_at_academy": self.added_at_academy,
            "cpoms_log_id": self.cpoms_log_id,
            "added_by": self.added_by,
            "added_role": self.added_role,
            "added_on": self.added_on.isoformat(),
            "recorded_at": self.recorded_at,
            "dsl_decision": self.dsl_decision,
            "decided_by": self.decided_by,
            "corrected_by": self.corrected_by,
        }


@dataclass(frozen=True)
class AwaitingDecision:
    """A pupil with SEND concerns that have gone to no DSL decision yet."""

    pupil_id: UUID
    academy: str
    concern_seqs: tuple[int, ...]
    first_raised_on: date
    raised_by: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "pupil_id": str(self.pupil_id),
            "academy": self.academy,
            "concern_seqs": list(self.concern_seqs),
            "first_raised_on": self.first_raised_on.isoformat(),
            "raised_by": list(self.raised_by),
        }


def cross_references(records: ReadStore, *, academy: str | None = None) -> list[CrossReference]:
    """Every cross-reference, newest first; `academy` is the pupil's academy now."""
    c = safeguarding_crossrefs.c
    query = select(safeguarding_crossrefs).order_by(c.added_on.desc(), c.recorded_at.desc())
    if academy is not None:
        query = query.where(c.academy == academy)
    with records.datastore.transaction(commit=False) as session:
        rows = session.execute(query).mappings().all()
    return [
        CrossReference(
            **{k: v for k, v in row.items() if k != "corrected_by_seq"},
            corrected_by=row["corrected_by_seq"],
        )
        for row in rows
    ]


def awaiting_decision(records: ReadStore, *, academy: str | None = None) -> list[AwaitingDecision]:
    """Pupils whose SEND concerns await a DSL decision, longest waiting first."""
    c = safeguarding_concerns.c
    query = select(safeguarding_concerns).where(c.decision_seq.is_(None)).order_by(c.raised_on)
    if academy is not None:
        query = query.where(c.academy == academy)
    with records.datastore.transaction(commit=False) as session:
        rows = session.execute(query).mappings().all()
    by_pupil: dict[UUID, list[Any]] = {}
    for row in rows:
        by_pupil.setdefault(row["pupil_id"], []).append(row)
    waiting = [
        AwaitingDecision(
            pupil_id=pupil_id,
            academy=concerns[-1]["academy"],
            concern_seqs=tuple(sorted(r["seq"] for r in concerns)),
            first_raised_on=concerns[0]["raised_on"],
            raised_by=tuple(dict.fromkeys(r["raised_by"] for r in concerns)),
        )
        for pupil_id, concerns in by_pupil.items()
    ]
    return sorted(waiting, key=lambda w: (w.first_raised_on, str(w.pupil_id)))
