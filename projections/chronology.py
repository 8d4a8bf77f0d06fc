"""A pupil's chronology: an index of every entry, and reads that decrypt only what they show.

The index (`chronology_index`, one row per entry) holds what a filter or an ordering needs
and nothing personal: ids, codes, both dates, the author's staff id and role, the area of
need, the entry a correction points at, and whether the policy restricts the entry's kind.
The entries' words stay in the event store under the pupil's key: `chronology()` picks
rows from the index, then decrypts just those entries (and the corrections attached to
them), so shredding the key leaves nothing readable here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    and_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from crypto.envelope import stored_commitment
from crypto.errors import KeyShredded
from crypto.mapper import event_type
from domain.errors import DomainError, PupilPurged, UnknownPupil
from domain.events import EVENT_TYPES
from domain.policy import ENTRY_KINDS, ROLES, TrustPolicy
from domain.values import AreaOfNeed, NeedType
from projections.base import ProjectedEvent
from projections.bulk import bulk_write
from projections.ports import PupilEventSource
from projections.runner import delete_pupils

metadata = MetaData()
chronology_index = Table(
    "chronology_index",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("type", String(40), nullable=False),
    Column("happened_on", Date, nullable=False),
    # The committed RFC 3339 text (fixed width, UTC): sorts as time and round-trips exactly.
    Column("recorded_at", String(32), nullable=False),
    Column("author_role", String(20), nullable=False),
    Column("author_id", String(64), nullable=False),
    Column("area", String(40), nullable=True),
    Column("need", String(8), nullable=True),
    Column("corrects_seq", Integer, nullable=True),
    Column("restricted", Boolean, nullable=False),
)

# The Code of Practice's four broad areas, by value and by the short names SENDCos use.
AREA_NAMES: dict[str, AreaOfNeed] = {
    **{area.value: area for area in AreaOfNeed},
    "cl": AreaOfNeed.COGNITION_AND_LEARNING,
    "ci": AreaOfNeed.COMMUNICATION_AND_INTERACTION,
    "semh": AreaOfNeed.SEMH,
    "sp": AreaOfNeed.SENSORY_PHYSICAL,
}

Order = Literal["happened", "recorded"]
# Who sees an entry: (kind, author's staff id) -> "shown", "masked" or "omitted". The
# application layer's visibility rule (api/app/visibility.py) is passed in as one.
View = Callable[[str, str], str]
# What a read takes from the index, in this order (`chronology()` unpacks it).
_SHOWN = tuple(
    chronology_index.c[name]
    for name in (
        "seq", "type", "happened_on", "recorded_at", "author_role", "author_id",
        "corrects_seq", "restricted",
    )
)  # fmt: skip
_IndexRow = tuple[int, str, date, str, str, str, int | None, bool]


class ChronologyIndex:
    """Keeps `chronology_index` current: one row per entry, removed by the purge."""

    name = "chronology"
    tables: tuple[Table, ...] = (chronology_index,)
    # Entries of the pupil's own record only: access-log streams are not chronology.
    event_types: frozenset[str] | None = frozenset(cls.__name__ for cls in EVENT_TYPES)

    def __init__(self, policy: TrustPolicy) -> None:
        self.restricted = frozenset(policy.visibility.restricted)

    def apply(self, session: Session, event: ProjectedEvent) -> None:
        self.apply_batch(session, [event])

    def apply_batch(self, session: Session, events: Sequence[ProjectedEvent]) -> None:
        """Write a batch's rows in bulk (COPY on PostgreSQL). A purge drops the pupil's rows
        made earlier in the batch and deletes its stored ones (one statement for all the
        batch's purges, before the insert), so the effect is that of `apply` one by one."""
        rows: dict[UUID, list[dict[str, Any]]] = {}
        purged: list[UUID] = []
        for event in events:
            if event.payload is None:
                continue  # shredded: the tombstone (RecordsPurged) does the clean-up
            if event.type == "RecordsPurged":
                rows.pop(event.pupil_id, None)
                purged.append(event.pupil_id)
            else:
                rows.setdefault(event.pupil_id, []).append(self.row(event, event.payload))
        delete_pupils(session, chronology_index, purged)
        bulk_write(session, chronology_index, [row for made in rows.values() for row in made])

    def row(self, event: ProjectedEvent, p: dict[str, Any]) -> dict[str, Any]:
        area, need = _area_and_need(event.type, p)
        return {
            "pupil_id": event.pupil_id,
            "seq": event.seq,
            "type": event.type,
            "happened_on": date.fromisoformat(p["happened_on"]),
            "recorded_at": p["recorded_at"],
            "author_role": p["recorded_by"]["role"],
            "author_id": p["recorded_by"]["staff_id"],
            "area": area,
            "need": need,
            "corrects_seq": p["corrects_seq"] if event.type == "EntryCorrected" else None,
            "restricted": event.type in self.restricted,
        }


def _area_and_need(kind: str, p: dict[str, Any]) -> tuple[str | None, str | None]:
    if kind == "ConcernRaised":
        return p["area_of_need"], None
    if kind in ("NeedRecorded", "NeedWithdrawn"):
        area = NeedType(p["need"]).area
        return (area.value if area else None), p["need"]
    return None, None


# ----- reading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChronologyEntry:
    """One entry as a viewer may see it: `payload` is None when `masked` (kind and dates
    only) and `recorded_by` then too."""

    pupil_id: UUID
    seq: int
    type: str
    happened_on: date
    recorded_at: str
    recorded_by: dict[str, str] | None
    payload: dict[str, Any] | None
    commitment: bytes
    restricted: bool
    masked: bool
    corrects_seq: int | None = None
    corrected_by: tuple[int, ...] = ()
    corrections: tuple[ChronologyEntry, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The shape of `chronicle chronology --json` (docs/read-models.md)."""
        return {
            "seq": self.seq,
            "type": self.type,
            "happened_on": self.happened_on.isoformat(),
            "recorded_at": self.recorded_at,
            "recorded_by": self.recorded_by,
            "payload": self.payload,
            "commitment": self.commitment.hex(),
            "restricted": self.restricted,
            "corrected_by": list(self.corrected_by),
        }


class ChronologyQueryError(DomainError):
    """A chronology filter names something that does not exist."""


def chronology(
    records: PupilEventSource,
    pupil_id: UUID,
    *,
    kinds: Iterable[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    author_role: str | None = None,
    area: str | None = None,
    viewer_role: str | None = None,
    view: View | None = None,
    order: Order = "happened",
) -> list[ChronologyEntry]:
    """A pupil's entries from the index, filtered, in the order they happened (or were
    recorded), each correction attached to the entry it corrects.

    `since`/`until` bound `happened_on`, both inclusive. `view` says who sees what (the
    application's visibility rule): a masked entry shows its kind and dates only, an omitted
    one is left out, and a filter on its author's role or area of need never matches an
    entry that is not shown. `viewer_role` alone masks by the policy's kinds for the role.
    Only the entries shown, and their corrections, are decrypted.
    """
    c = chronology_index.c
    filters: list[ColumnElement[bool]] = []
    if kinds is not None:
        filters.append(c.type.in_(_checked_kinds(kinds)))
    if since is not None:
        filters.append(c.happened_on >= since)
    if until is not None:
        filters.append(c.happened_on <= until)
    if author_role is not None:
        filters.append(c.author_role == _checked_role(author_role))
    if area is not None:
        filters.append(c.area == area_of_need(area).value)
    # One query for the entries chosen and every correction (a correction travels with
    # what it corrects, whatever the filters chose): `chosen` says which rows are which.
    chosen = and_(*filters) if filters else true()
    query = select(*_SHOWN, chosen.label("chosen")).where(c.pupil_id == pupil_id)
    if filters:
        query = query.where(or_(chosen, c.corrects_seq.is_not(None)))
    if order == "happened":
        query = query.order_by(c.happened_on, c.recorded_at, c.seq)
    else:
        query = query.order_by(c.recorded_at, c.seq)
    if viewer_role is not None:
        _checked_role(viewer_role)
        if view is None:
            view = _kinds_view(records.policy, viewer_role)
    # A filter on what a masked entry hides (its author, its area of need) never matches it.
    hides_filtered = author_role is not None or area is not None
    with records.datastore.transaction(commit=False) as session:
        # Plain tuples: a Row's attribute access costs more than the decryption.
        found = [tuple(r) for r in session.execute(query).all()]
        shown = _shown_of(found, view)
        rows: list[_IndexRow] = [
            r[:8]
            for r in found
            if r[8] and shown[r[0]] != "omitted" and not (hides_filtered and shown[r[0]] != "shown")
        ]
        if not rows:
            _check_pupil_exists(records, pupil_id)
            return []
        selected = {r[0] for r in rows}
        corrections = _corrections_of([r for r in found if shown[r[0]] != "omitted"], selected)
        wanted = selected | {r[0] for rs in corrections.values() for r in rs}
        visible = {seq for seq in wanted if shown[seq] == "shown"}
        opened = _open_entries(session, records, pupil_id, wanted, visible)

    def entry(row: _IndexRow) -> ChronologyEntry:
        seq, kind, happened_on, recorded_at, role, author, corrects_seq, restricted = row
        commitment, payload = opened[seq]
        attached = corrections.get(seq, ())
        shown = payload is not None
        return ChronologyEntry(
            pupil_id,
            seq,
            kind,
            happened_on,
            recorded_at,
            {"staff_id": author, "role": role} if shown else None,
            payload,
            commitment,
            restricted,
            not shown,
            corrects_seq,
            tuple(r[0] for r in attached),
            tuple(entry(r) for r in attached),
        )

    return [entry(row) for row in rows]


def area_of_need(text: str) -> AreaOfNeed:
    """An area of need by its value or short name (cl, ci, semh, sp); else a clear error."""
    found = AREA_NAMES.get(text.strip().lower())
    if found is None:
        names = ", ".join(sorted(AREA_NAMES))
        raise ChronologyQueryError(f"{text!r} is not an area of need; use one of: {names}")
    return found


def _checked_kinds(kinds: Iterable[str]) -> list[str]:
    chosen = list(kinds)
    unknown = [k for k in chosen if k not in ENTRY_KINDS]
    if unknown:
        raise ChronologyQueryError(
            f"unknown entry kind {', '.join(map(repr, unknown))}; kinds are spelled as in "
            f"docs/events.md, e.g. ConcernRaised, PlanReviewed"
        )
    return chosen


def _checked_role(role: str) -> str:
    if role not in ROLES:
        raise ChronologyQueryError(f"unknown role {role!r}; roles are: {', '.join(ROLES)}")
    return role


def _kinds_view(policy: TrustPolicy, viewer_role: str) -> View:
    """Masking by kind alone (the policy's list for the role): for callers outside the
    application layer, such as the projection tests."""
    kinds = frozenset(policy.visible_kinds(viewer_role))
    return lambda kind, _author: "shown" if kind in kinds else "masked"


def _shown_of(found: list[tuple[Any, ...]], view: View | None) -> dict[int, str]:
    """seq -> "shown", "masked" or "omitted" for every row read (None: all shown)."""
    if view is None:
        return {int(r[0]): "shown" for r in found}
    return {int(r[0]): view(r[1], r[5]) for r in found}


def _corrections_of(found: list[tuple[Any, ...]], seqs: set[int]) -> dict[int, list[_IndexRow]]:
    """Every correction of the selected entries, in sequence order, whatever the filters
    chose: a correction travels with what it corrects."""
    attached: dict[int, list[_IndexRow]] = {}
    for row in sorted((r for r in found if r[6] is not None), key=lambda r: int(r[0])):
        if row[6] in seqs:
            plain: _IndexRow = row[:8]
            attached.setdefault(row[6], []).append(plain)
    return attached


def _open_entries(
    session: Session,
    records: PupilEventSource,
    pupil_id: UUID,
    seqs: set[int],
    visible: set[int],
) -> dict[int, tuple[bytes, dict[str, Any] | None]]:
    """Commitment and payload by seq; the payload is decrypted only for `visible` seqs.

    One range read (Core, not the recorder's ORM query, which costs more than the
    decryption) covers the selected entries; rows the index did not choose are skipped
    before any decryption.
    """
    events = records.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
    e = events.c
    stored = session.execute(
        select(e.originator_version, e.topic, e.state).where(
            e.originator_id == pupil_id,
            e.originator_version.between(min(seqs), max(seqs)),
        )
    ).all()
    found: dict[int, tuple[bytes, dict[str, Any] | None]] = {}
    mapper = records.sealing_mapper
    try:
        for seq, topic, raw in stored:
            if seq not in seqs:
                continue
            state = bytes(raw)  # memoryview on some drivers
            if seq in visible:
                sealed = StoredEvent(
                    originator_id=pupil_id, originator_version=seq, topic=topic, state=state
                )
                opened = mapper.committed(sealed)
                found[seq] = (opened.commitment, json.loads(opened.payload))
            else:
                found[seq] = (stored_commitment(state), None)
    except KeyShredded as err:
        raise PupilPurged(pupil_id, err.shredded_at.date()) from None
    return found


def _check_pupil_exists(records: PupilEventSource, pupil_id: UUID) -> None:
    """No rows: an unknown pupil, a purged one, or simply nothing matched the filters."""
    last: Sequence[StoredEvent] = records.recorder.select_events(pupil_id, desc=True, limit=1)
    if not last:
        raise UnknownPupil(pupil_id)
    if event_type(last[0].topic) == "RecordsPurged":
        purged = json.loads(records.sealing_mapper.committed(last[0]).payload)
        raise PupilPurged(pupil_id, purged["happened_on"])
