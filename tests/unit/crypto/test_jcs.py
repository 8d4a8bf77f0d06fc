"""Our canonical JSON equals the RFC 8785 reference implementation on every payload shape."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from crypto.jcs import CanonicalJSONError, canonical_json

_text = st.text(st.characters(exclude_categories=("Cs",)))
_keys = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)))
_scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | _text
_json: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)


@given(_json)
def test_matches_the_reference_implementation(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_known_vector() -> None:
    value = {"b": [1, True, None], "a": "é\n\u2028", "A": {"z": 0, "y": "\x1f"}}
    assert (
        canonical_json(value)
        == '{"A":{"y":"\\u001f","z":0},"a":"é\\n\u2028","b":[1,true,null]}'.encode()
    )


@pytest.mark.parametrize("bad", [1.5, 2**53, {"k": "\ud800"}, {1: "x"}, {"\U0001f600": 1}, b"x"])
def test_refuses_what_it_cannot_commit_to(bad: Any) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical_json(bad)


@given(st.text(), st.integers(1, 2**53 - 1), st.text(), st.text(), st.text())
def test_chain_entry_is_the_canonical_json_of_its_fields(
    pupil: str, seq: int, kind: str, commitment: str, prev: str
) -> None:
    from crypto.chain import chain_entry

    expected = {"pupil": pupil, "seq": seq, "type": kind, "commitment": commitment, "prev": prev}
    try:
        reference = rfc8785.dumps(expected)
    except Exception:  # lone surrogates: neither accepts them
        with pytest.raises(UnicodeEncodeError):
            chain_entry(pupil, seq, kind, commitment, prev)
        return
    assert chain_entry(pupil, seq, kind, commitment, prev) == reference
