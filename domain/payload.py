"""The export payload of an event: a plain JSON object derived from the event's typed fields.

The payload is what a tribunal sees and what the commitment covers (DESIGN, Ledger §1), so
its shape is a wire format: field names as declared on the event, dates as ISO 8601, times
as RFC 3339 UTC, enums by value, no floats. `recorded_at` is the library's `timestamp`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

# Fields the store keeps outside the payload (they are in the chain entry or the topic).
_ENVELOPE_FIELDS = frozenset({"originator_id", "originator_version", "originator_topic"})
_RENAMED = {"timestamp": "recorded_at"}
_MAX_SAFE_INT = 2**53 - 1  # JCS (RFC 8785) integers must survive an IEEE double


def to_payload(obj: Any) -> dict[str, Any]:
    """The JSON-ready payload of a dataclass event (or nested value object)."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(obj):
        if field.name in _ENVELOPE_FIELDS:
            continue
        out[_RENAMED.get(field.name, field.name)] = _encode(getattr(obj, field.name))
    return out


def from_payload(cls: type[Any], payload: dict[str, Any]) -> dict[str, Any]:
    """Typed field values for `cls`, decoded from a payload made by `to_payload`."""
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name in _ENVELOPE_FIELDS:
            continue
        key = _RENAMED.get(field.name, field.name)
        if key not in payload:
            raise ValueError(f"payload of {cls.__name__} lacks field {key!r}")
        values[field.name] = _decode(hints[field.name], payload[key])
    return values


def _encode(value: Any) -> Any:
    if isinstance(value, Enum):  # before str: StrEnum members are strings too
        return value.value
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise ValueError(f"integer {value} is too large for a canonical payload")
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetimes in events must be timezone-aware")
        return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, tuple | list | frozenset):
        return [_encode(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_payload(value)
    raise TypeError(f"cannot put a {type(value).__name__} in an event payload")


def _decode(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(inner, value)
    if origin in (tuple, list):
        (inner, *_) = typing.get_args(hint)
        return tuple(_decode(inner, v) for v in value)
    if origin is frozenset:
        (inner,) = typing.get_args(hint)
        return frozenset(_decode(inner, v) for v in value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is date:
        return date.fromisoformat(value)
    if hint is UUID:
        return UUID(value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return hint(**from_payload(hint, value))
    return value


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]
