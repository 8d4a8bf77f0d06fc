"""The library seam: a `Mapper` that seals each event under its pupil's data key.

The library's own `Cipher` sees only bytes, with no pupil id or position to bind; this
mapper sees the whole event, so it can use per-pupil keys and associated data. Events give
their export payload (`payload()`) and rebuild their fields from it
(`fields_from_payload()`); the mapper never looks inside them.
"""

from __future__ import annotations

import json
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from crypto.envelope import Committed, is_sealed, open_state, seal, seal_clear
from crypto.jcs import canonical_json


class DataKeys(Protocol):
    def key(self, owner: UUID) -> bytes: ...


def event_type(topic: str) -> str:
    """The event type named in chain entries and associated data: the class name."""
    return topic.rsplit(":", 1)[-1].rsplit(".", 1)[-1]


class SealingMapper(Mapper[UUID]):
    """Maps events to sealed stored events and back, one data key per pupil."""

    def __init__(self, transcoder: Transcoder, data_keys: DataKeys) -> None:
        super().__init__(transcoder=transcoder)
        self.data_keys = data_keys

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        cls = type(domain_event)
        topic = get_topic(cls)
        pupil_id: UUID = domain_event.originator_id
        seq: int = domain_event.originator_version
        payload = canonical_json(domain_event.payload())
        if getattr(cls, "stored_in_clear", False):
            state = seal_clear(payload)
        else:
            state = seal(self.data_keys.key(pupil_id), pupil_id, seq, cls.__name__, payload)
        return StoredEvent(originator_id=pupil_id, originator_version=seq, topic=topic, state=state)

    def committed(self, stored: StoredEvent) -> Committed:
        """The salt and exact payload bytes committed for a stored event (for exports)."""
        pupil_id = UUID(str(stored.originator_id))
        kind = event_type(stored.topic)
        key = self.data_keys.key(pupil_id) if is_sealed(stored.state) else None
        return open_state(key, pupil_id, stored.originator_version, kind, stored.state)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = resolve_topic(stored_event.topic)
        committed = self.committed(stored_event)
        fields = cls.fields_from_payload(json.loads(committed.payload))
        fields["originator_id"] = UUID(str(stored_event.originator_id))
        fields["originator_version"] = stored_event.originator_version
        if hasattr(cls, "originator_topic_for_payload"):
            fields["originator_topic"] = cls.originator_topic_for_payload
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", fields)
        return event
