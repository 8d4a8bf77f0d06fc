"""The access log across pupils: who read which pupil's records, when, and what.

Every read of pupil content is a `RecordsViewed` entry in the pupil's own access stream
(domain/access.py), sealed under the pupil's key. This read model indexes them so that a
DPO or a DSL can ask across pupils: by pupil, by staff member, by date, by academy.

Tables, ids, codes and dates only:

    access_log_pupils  pupil id, its access stream's id, the pupil's academy now (as the
                       reads see it), and whether it was purged
    access_log         one row per read: pupil, entry (sequence number in the access
                       stream), staff id and role, what was read (a code: register,
                       record, chronology, ...), the day and time of the read, and the
                       academy the pupil was at when it was read

**The purpose is not in the tables.** It is free text typed by the person reading ("annual
review with mum after her complaint about ...") and may name or describe people, so it is
personal data under the pupil's key like any other free text: `access_log(...,
details=True)` decrypts it from the entry when a row is shown, with the full `what` (a
chronology read's filters, say), and nothing is kept. `what` is stored only as the part
before any `?` when that is a plain code; anything else is stored as `other` and shown
from the entry. Shredding the pupil's key leaves nothing readable, and the pupil's
`RecordsPurged` tombstone removes its rows (the pupil keeps a marker row, ids only, so
that a read recorded between the tombstone and the shred is not indexed either: a
rebuild, which cannot read it, gives the same).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import Boolean, Column, Date, Index, Integer, MetaData, String, Table, Uuid, select
from sqlalchemy.orm import Session

from crypto.errors import KeyShredded
from domain.access import access_stream_id
from domain.errors import DomainError
from projections.base import ProjectedEvent
from projections.bulk import PupilRows
from projections.ports import PupilEventSource
from projections.runner import ProjectionError, by_pupil, chunks

metadata = MetaData()
access_pupils = Table(
    "access_log_pupils",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("stream_id", Uuid, nullable=False, unique=True),
    Column("academy", String(40), nullable=True),
    Column("purged", Boolean, nullable=False),
)
access_log_rows = Table(
    "access_log",
    metadata,
    Column("pupil_id", Uuid, primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),  # in the access stream
    Column("staff_id", String(64), nullable=False),
    Column("role", String(20), nullable=False),
    Column("what", String(32), nullable=False),
    Column("read_on", Date, nullable=False),
    # The committed RFC 3339 text (UTC): sorts as time and round-trips exactly.
    Column("recorded_at", String(32), nullable=False),
    Column("academy", String(40), nullable=True),
    Index("access_log_staff", "staff_id", "read_on"),
    Index("access_log_read_on", "read_on"),
    Index("access_log_academy", "academy", "read_on"),
)

PUPIL_KINDS = frozenset(
    {"PupilRegistered", "TransferredWithinTrust", "PupilRejoined", "RecordsPurged"}
)
ACCESS_KINDS = frozenset({"AccessLogOpened", "RecordsViewed"})
_CODE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
OTHER = "other"


def what_code(what: str) -> str:
    """The part of `what` kept in the clear: the code before any `?`, or `other`."""
    code = what.split("?", 1)[0]
    return code if _CODE.fullmatch(code) else OTHER


class AccessLogIndex:
    """Keeps `access_log` current: one row per read, removed by the pupil's purge."""

    name = "access_log"
    tables: tuple[Table, ...] = (access_pupils, access_log_rows)
    event_types: frozenset[str] | None = PUPIL_KINDS | ACCESS_KINDS

    def apply(self, session: Session, event: ProjectedEvent) -> None:
        self.apply_batch(session, [event])

    def apply_batch(self, session: Session, events: Sequence[ProjectedEvent]) -> None:
        """Apply a batch in commit order: the pupils' rows in memory (read once), reads
        appended; written back in bulk at the end."""
        streams: dict[UUID, UUID] = {}  # access stream id -> pupil id
        for event in events:
            if event.type == "AccessLogOpened" and event.payload is not None:
                streams[event.pupil_id] = UUID(event.payload["pupil_id"])
        groups = by_pupil(events)
        unknown = [s for s, evs in groups.items() if evs[0].type in ACCESS_KINDS]
        streams |= _pupils_of(session, [s for s in unknown if s not in streams])
        known = {
            *(p for p, evs in groups.items() if evs[0].type in PUPIL_KINDS and evs[0].seq > 1),
            *streams.values(),
        }
        rows = PupilRows(session, self.tables)
        rows.load(known, tables=[access_pupils])  # reads are only ever appended
        for event in events:
            if event.payload is None:
                continue  # shredded: the tombstone (RecordsPurged) does the clean-up
            if event.type in ACCESS_KINDS:
                self._access(rows, streams, event, event.payload)
            else:
                self._pupil(rows, event, event.payload)
        rows.flush()

    def _pupil(self, rows: PupilRows, event: ProjectedEvent, p: dict[str, Any]) -> None:
        pupil_id = event.pupil_id
        if event.type == "RecordsPurged":
            rows.wipe(pupil_id)
            rows.add(access_pupils, _pupil_row(pupil_id, None, purged=True))
            return
        found = rows.rows(access_pupils, pupil_id)
        academy = p["to_academy"] if event.type == "TransferredWithinTrust" else p["academy"]
        if not found:
            rows.add(access_pupils, _pupil_row(pupil_id, academy))
            return
        found[0]["academy"] = academy
        rows.changed(access_pupils, found[0])

    def _access(
        self, rows: PupilRows, streams: dict[UUID, UUID], event: ProjectedEvent, p: dict[str, Any]
    ) -> None:
        pupil_id = streams.get(event.pupil_id)
        if pupil_id is None:
            raise ProjectionError(
                f"access_log: entry {event.seq} of access stream {event.pupil_id} came before "
                "the stream was opened; run `chronicle projections rebuild access_log`"
            )
        found = rows.rows(access_pupils, pupil_id)
        if not found:  # opened before the registration was applied: never in commit order
            found = [rows.add(access_pupils, _pupil_row(pupil_id, None))]
        pupil = found[0]
        if event.type != "RecordsViewed" or pupil["purged"]:
            return
        rows.add(
            access_log_rows,
            {
                "pupil_id": pupil_id,
                "seq": event.seq,
                "staff_id": p["recorded_by"]["staff_id"],
                "role": p["recorded_by"]["role"],
                "what": what_code(p["what"]),
                "read_on": date.fromisoformat(p["happened_on"]),
                "recorded_at": p["recorded_at"],
                "academy": pupil["academy"],
            },
        )


def _pupil_row(pupil_id: UUID, academy: str | None, *, purged: bool = False) -> dict[str, Any]:
    return {
        "pupil_id": pupil_id,
        "stream_id": access_stream_id(pupil_id),
        "academy": academy,
        "purged": purged,
    }


def _pupils_of(session: Session, stream_ids: list[UUID]) -> dict[UUID, UUID]:
    c = access_pupils.c
    found: dict[UUID, UUID] = {}
    for chunk in chunks(stream_ids, 500):
        for stream_id, pupil_id in session.execute(
            select(c.stream_id, c.pupil_id).where(c.stream_id.in_(chunk))
        ):
            found[stream_id] = pupil_id
    return found


# ----- reading ----------------------------------------------------------------------------


class AccessLogQueryError(DomainError):
    """An access-log query that cannot be answered as asked."""


@dataclass(frozen=True)
class AccessEntry:
    """One read of a pupil's records. `purpose` and `detail` (the full `what`) come from the
    entry itself, decrypted when asked for (`details=True`); None when not asked for, when
    no purpose was given, or when the pupil's key is gone."""

    pupil_id: UUID
    seq: int
    staff_id: str
    role: str
    what: str
    read_on: date
    recorded_at: str
    academy: str | None
    purpose: str | None = None
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The shape of `chronicle access-log --json` (docs/read-models.md)."""
        return {
            "pupil_id": str(self.pupil_id),
            "seq": self.seq,
            "staff_id": self.staff_id,
            "role": self.role,
            "what": self.what,
            "detail": self.detail,
            "read_on": self.read_on.isoformat(),
            "recorded_at": self.recorded_at,
            "academy": self.academy,
            "purpose": self.purpose,
        }


def access_log(
    records: PupilEventSource,
    *,
    pupil: UUID | None = None,
    staff: str | None = None,
    since: date | None = None,
    until: date | None = None,
    academy: str | None = None,
    pupils_now_at: Sequence[str] | None = None,
    details: bool = True,
    limit: int | None = None,
) -> list[AccessEntry]:
    """Reads of pupils' records, oldest first, filtered (all filters combine with AND).

    `since`/`until` bound the day of the read, both inclusive; `academy` is the academy the
    pupil was at when it was read; `pupils_now_at` keeps the reads of pupils whose academy
    is now one of those (a caller's scope: a pupil who moved belongs to the new academy
    only). With `details`, each row's purpose and full `what` are
    decrypted from its entry (one range read per pupil shown); `limit` keeps the most
    recent rows.
    """
    if since is not None and until is not None and since > until:
        raise AccessLogQueryError(f"--since {since} is after --until {until}: nothing to show")
    if limit is not None and limit < 1:
        raise AccessLogQueryError(f"limit must be at least 1 (got {limit})")
    c = access_log_rows.c
    query = select(access_log_rows)
    if pupil is not None:
        query = query.where(c.pupil_id == pupil)
    if staff is not None:
        query = query.where(c.staff_id == staff)
    if since is not None:
        query = query.where(c.read_on >= since)
    if until is not None:
        query = query.where(c.read_on <= until)
    if academy is not None:
        query = query.where(c.academy == academy)
    if pupils_now_at is not None:
        now_at = select(access_pupils.c.pupil_id).where(
            access_pupils.c.academy.in_(list(pupils_now_at))
        )
        query = query.where(c.pupil_id.in_(now_at))
    if limit is not None:
        query = query.order_by(c.recorded_at.desc(), c.pupil_id.desc(), c.seq.desc()).limit(limit)
    else:
        query = query.order_by(c.recorded_at, c.pupil_id, c.seq)
    with records.datastore.transaction(commit=False) as session:
        found = [AccessEntry(**row) for row in session.execute(query).mappings()]
        if limit is not None:
            found.reverse()
        if not details or not found:
            return found
        opened = _details(session, records, found)
    return [
        replace(e, purpose=opened[key][0], detail=opened[key][1])
        if (key := (e.pupil_id, e.seq)) in opened
        else e
        for e in found
    ]


def _details(
    session: Session, records: PupilEventSource, entries: list[AccessEntry]
) -> dict[tuple[UUID, int], tuple[str | None, str]]:
    """(purpose, what) of each entry, decrypted from its access stream: one range read per
    pupil, only the entries shown decrypted."""
    wanted: dict[UUID, set[int]] = {}
    for entry in entries:
        wanted.setdefault(entry.pupil_id, set()).add(entry.seq)
    events = records.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
    e = events.c
    mapper = records.sealing_mapper
    found: dict[tuple[UUID, int], tuple[str | None, str]] = {}
    for pupil_id, seqs in wanted.items():
        stream = access_stream_id(pupil_id)
        stored = session.execute(
            select(e.originator_version, e.topic, e.state).where(
                e.originator_id == stream, e.originator_version.between(min(seqs), max(seqs))
            )
        ).all()
        try:
            for seq, topic, state in stored:
                if seq not in seqs:
                    continue
                sealed = StoredEvent(
                    originator_id=stream, originator_version=seq, topic=topic, state=bytes(state)
                )
                payload = json.loads(mapper.committed(sealed).payload)
                found[(pupil_id, seq)] = (payload["purpose"], payload["what"])
        except KeyShredded:
            continue  # purged since the row was read: nothing readable to show
    return found
