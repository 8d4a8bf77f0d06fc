"""RFC 8785 (JCS) canonical JSON for the values Chronicle commits to.

Payloads hold only objects, arrays, strings, integers, booleans and null. For those, JCS
is exactly `json.dumps` with sorted keys, no whitespace and no ASCII escaping, provided
that (a) keys sort by UTF-16 code units — the same as code points unless a key holds
characters beyond the Basic Multilingual Plane, (b) integers fit an IEEE double exactly,
and (c) strings are valid Unicode (no lone surrogates). We check those conditions and
refuse floats rather than implement ECMAScript number formatting: money and measures in
SEND records are text, and a float in a commitment is a portability bug waiting to happen.
The test suite checks this function against the `rfc8785` reference implementation.
"""

from __future__ import annotations

import json
from typing import Any

_MAX_SAFE_INT = 2**53 - 1
# Exactly what json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
# uses, built once: json.dumps builds a new encoder per call when given any option.
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class CanonicalJSONError(ValueError):
    """The value cannot be committed to: it has a float, a huge integer or bad text."""


def canonical_json(value: Any, *, checked: bool = False) -> bytes:
    """The RFC 8785 canonical UTF-8 encoding of `value`.

    `checked=True` skips the inspection for values already known to hold no floats,
    unsafe integers or non-BMP keys (event payloads: `domain.payload` types every field).
    """
    if not checked:
        _check(value)
    text = _ENCODER.encode(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate
        raise CanonicalJSONError(f"text is not valid Unicode: {e.reason}") from None


def _check(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJSONError(f"object keys must be strings, not {key!r}")
            if any(ord(c) > 0xFFFF for c in key):
                # Code-point order and UTF-16 order differ here; keys are our field names,
                # so this never happens for real payloads.
                raise CanonicalJSONError(f"object key {key!r} is outside the BMP")
            _check(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check(item)
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        return
    elif isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise CanonicalJSONError(f"integer {value} does not fit an IEEE double exactly")
    else:
        raise CanonicalJSONError(
            f"{type(value).__name__} values cannot be committed to; use text or integers"
        )
