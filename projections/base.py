"""The contract every read model implements, and the event it is fed.

A projection owns some tables, consumes decrypted events in commit order and keeps its
rows current; it can be dropped and rebuilt from the event log at any time, and a rebuilt
projection must equal the incrementally maintained one. The runner (projections/runner.py)
decrypts each stored event once, hands it to every projection that wants it inside one
transaction together with the projection's tracking position, so a crash neither skips nor
double-applies an event.

No plaintext in projection tables: ids, codes, dates and counts in the clear; anything
personal (names, free text) is read from the events on demand, or stored as ciphertext
under the pupil's own key, so that shredding the key leaves nothing readable. A
`RecordsPurged` event (stored in the clear, so it always reaches projections) removes the
pupil's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import Table
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class ProjectedEvent:
    """One stored event as projections see it.

    `payload` is the event's export payload (docs/events.md) or None when it cannot be read
    because the pupil's key was shredded; projections must then leave the pupil alone (its
    `RecordsPurged` tombstone, always readable, does the clean-up).
    """

    notification_id: int
    pupil_id: UUID
    seq: int
    type: str
    payload: dict[str, Any] | None

    @property
    def recorded_at(self) -> datetime | None:
        if self.payload is None:
            return None
        return datetime.fromisoformat(self.payload["recorded_at"])


class Projection(Protocol):
    """A read model: its name, its tables, the event types it consumes, and how it applies one."""

    name: str
    tables: tuple[Table, ...]
    event_types: frozenset[str] | None  # None: every event type

    def apply(self, session: Session, event: ProjectedEvent) -> None:
        """Apply one event inside the runner's transaction (never commit here)."""
        ...
