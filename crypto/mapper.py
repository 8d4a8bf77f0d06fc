"""The library seam: a `Mapper` that seals each event under its pupil's data key.

The library's own `Cipher` sees only bytes, with no pupil id or position to bind; this
mapper sees the whole event, so it can use per-pupil keys and associated data. Events give
their export payload (`payload()`) and rebuild their fields from it
(`fields_from_payload()`); the mapper never looks inside them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from crypto.envelope import Committed, open_state, seal, seal_clear
from crypto.jcs import canonical_json


class DataKeys(Protocol):
    def cipher(self, owner: UUID) -> AESGCM: ...


def event_type(topic: str) -> str:
    """The event type named in chain entries and associated data: the class name."""
    return topic.rsplit(":", 1)[-1].rsplit(".", 1)[-1]


@dataclass(frozen=True)
class _Kind:
    """What the mapper needs to know about one event class, worked out once per topic."""

    cls: type[Any]
    type: str
    in_clear: bool
    originator_topic: str | None


class SealingMapper(Mapper[UUID]):
    """Maps events to sealed stored events and back, one data key per pupil."""

    def __init__(self, transcoder: Transcoder, data_keys: DataKeys) -> None:
        super().__init__(transcoder=transcoder)
        self.data_keys = data_keys
        self._by_topic: dict[str, _Kind] = {}
        self._by_class: dict[type[Any], tuple[str, _Kind]] = {}

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        topic, kind = self._kind_of_class(type(domain_event))
        pupil_id: UUID = domain_event.originator_id
        seq: int = domain_event.originator_version
        # payload() types every field (domain.payload), so the JCS pre-check is redundant.
        payload = canonical_json(domain_event.payload(), checked=True)
        if kind.in_clear:
            state = seal_clear(payload)
        else:
            state = seal(self.data_keys.cipher(pupil_id), pupil_id, seq, kind.type, payload)
        return StoredEvent(originator_id=pupil_id, originator_version=seq, topic=topic, state=state)

    def committed(self, stored: StoredEvent) -> Committed:
        """The salt and exact payload bytes committed for a stored event (for exports)."""
        return self._open(stored, self._kind_of_topic(stored.topic))

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        kind = self._kind_of_topic(stored_event.topic)
        pupil_id = _uuid(stored_event.originator_id)
        seq = stored_event.originator_version
        aead = None if kind.in_clear else self.data_keys.cipher(pupil_id)
        committed = open_state(aead, pupil_id, seq, kind.type, stored_event.state)
        fields = kind.cls.fields_from_payload(_json_object(committed.payload))
        fields["originator_id"] = pupil_id
        fields["originator_version"] = seq
        if kind.originator_topic is not None:
            fields["originator_topic"] = kind.originator_topic
        event = object.__new__(kind.cls)
        object.__setattr__(event, "__dict__", fields)
        return event

    def _open(self, stored: StoredEvent, kind: _Kind) -> Committed:
        pupil_id = _uuid(stored.originator_id)
        aead = None if kind.in_clear else self.data_keys.cipher(pupil_id)
        return open_state(aead, pupil_id, stored.originator_version, kind.type, stored.state)

    def _kind_of_topic(self, topic: str) -> _Kind:
        kind = self._by_topic.get(topic)
        if kind is None:
            cls = resolve_topic(topic)
            kind = self._by_topic[topic] = _Kind(
                cls=cls,
                type=event_type(topic),
                in_clear=bool(getattr(cls, "stored_in_clear", False)),
                originator_topic=getattr(cls, "originator_topic_for_payload", None),
            )
        return kind

    def _kind_of_class(self, cls: type[Any]) -> tuple[str, _Kind]:
        found = self._by_class.get(cls)
        if found is None:
            topic = get_topic(cls)
            found = self._by_class[cls] = (topic, self._kind_of_topic(topic))
        return found


def _uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


_DECODER = json.JSONDecoder()


def _json_object(payload: bytes) -> Any:
    # JCS bytes are UTF-8 by definition: skip json.loads's encoding detection.
    return _DECODER.decode(payload.decode("utf-8"))
