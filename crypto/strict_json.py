"""Strict JSON for bundles: a duplicate key anywhere is an error, never "the last one wins".

Two parsers that disagree about `{"purpose": "a", "purpose": "b"}` would let one file say two
things: Python keeps the last value, other parsers the first. A bundle is read once, strictly,
and everything after works on the one value that was read.
"""

from __future__ import annotations

import json
from typing import Any


class DuplicateKey(ValueError):
    """A JSON object names the same key twice."""

    def __init__(self, key: str, keys: list[str]) -> None:
        self.key = key
        super().__init__(
            f"the key {key!r} appears twice in one object (keys: {', '.join(map(repr, keys))})"
        )


class NotStrictJSON(ValueError):
    """The text is not JSON as RFC 8259 defines it (NaN, Infinity)."""


def loads_strict(text: str | bytes) -> Any:
    """Parse JSON, raising `DuplicateKey` for a repeated key and `NotStrictJSON` for the
    non-standard constants `NaN`, `Infinity` and `-Infinity` (`json.JSONDecodeError` and
    `UnicodeDecodeError` as `json.loads` does)."""
    return json.loads(text, object_pairs_hook=_object, parse_constant=_constant)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKey(key, [k for k, _ in pairs])
        found[key] = value
    return found


def _constant(name: str) -> Any:
    raise NotStrictJSON(f"{name} is not a JSON value")
