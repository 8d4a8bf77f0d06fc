"""docs/events.md runs as a test: every example payload decodes with its event class and
encodes back to itself, and every field table lists exactly the payload's fields."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.events import EVENT_TYPES, PupilRegistered

DOC = Path(__file__).resolve().parents[3] / "docs" / "events.md"
_SECTION = re.compile(r"^#### (\w+)\n(.*?)(?=^#{2,4} |\Z)", re.S | re.M)
_EXAMPLE = re.compile(r"```json\n(.*?)```", re.S)
_FIELD = re.compile(r"^\| `(\w+)` \|", re.M)
COMMON = ["recorded_at", "recorded_by", "happened_on"]


def _sections() -> dict[str, str]:
    found = {name: body for name, body in _SECTION.findall(DOC.read_text(encoding="utf-8"))}
    return {cls.__name__: found[cls.__name__] for cls in EVENT_TYPES if cls.__name__ in found}


SECTIONS = _sections()


def _example(name: str) -> dict[str, Any]:
    (block,) = _EXAMPLE.findall(SECTIONS[name])
    payload: dict[str, Any] = json.loads(block)
    return payload


def test_every_event_type_is_documented_with_one_example() -> None:
    assert set(SECTIONS) == {cls.__name__ for cls in EVENT_TYPES}
    for name, body in SECTIONS.items():
        assert len(_EXAMPLE.findall(body)) == 1, name


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda cls: cls.__name__)
def test_the_example_decodes_and_encodes_to_itself(cls: type[Any]) -> None:
    payload = _example(cls.__name__)
    fields = cls.fields_from_payload(payload)
    envelope: dict[str, Any] = {"originator_id": UUID(int=1), "originator_version": 2}
    if cls is PupilRegistered:
        topic = PupilRegistered.originator_topic_for_payload
        envelope |= {"originator_version": 1, "originator_topic": topic}
    event = cls(**envelope, **fields)
    assert event.payload() == payload


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda cls: cls.__name__)
def test_the_field_table_lists_the_payload(cls: type[Any]) -> None:
    documented = _FIELD.findall(SECTIONS[cls.__name__].split("```json")[0])
    assert COMMON + documented == list(_example(cls.__name__))


def test_no_example_carries_the_envelope() -> None:
    for name in SECTIONS:
        assert not {"originator_id", "originator_version", "originator_topic"} & set(
            _example(name)
        ), name
