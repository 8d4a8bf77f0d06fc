"""The scope check reads a pupil's current academy from the newest event that set it
(`PupilRecords.academy_of`, declared by `domain.pupil.ACADEMY_EVENTS`) instead of rebuilding
the record. If a mutator came to set `academy` for an event not declared there, a caller of
one academy could keep reading a pupil who has moved on: this test reads the mutators'
source and fails first."""

from __future__ import annotations

import ast
import inspect

from domain.events import EVENT_TYPES
from domain.pupil import _MUTATORS, ACADEMY_EVENTS


def _assigns_academy(function: object) -> bool:
    source = inspect.getsource(function)  # type: ignore[arg-type]
    tree = ast.parse(inspect.cleandoc("\n" + source) if source.startswith(" ") else source)
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr":
            args = node.args
            if len(args) > 1 and isinstance(args[1], ast.Constant) and args[1].value == "academy":
                return True
        if any(isinstance(t, ast.Attribute) and t.attr == "academy" for t in targets):
            return True
    return False


def test_every_event_that_sets_the_academy_is_declared() -> None:
    setting = {event for event, mutator in _MUTATORS.items() if _assigns_academy(mutator)}
    assert setting, "the mutators could not be read: the check would pass vacuously"
    assert setting == set(ACADEMY_EVENTS)


def test_each_declared_field_is_a_field_of_its_event() -> None:
    for event, name in ACADEMY_EVENTS.items():
        assert event in EVENT_TYPES
        assert name in event.__dataclass_fields__ or name in getattr(event, "__annotations__", {})
