"""A new kind of entry is one declaration (api/app/catalogue.py): this names anything a new
row forgot — its event, its route, its permission row, its form, its third-party fields,
its deadline rules, its line in docs/api.md and its section in docs/events.md, and each
shipped policy's visibility lists."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from api.app.catalogue import BY_EVENT, COMMANDS, ENTRY_KINDS
from api.app.permissions import USE_CASES
from api.http.permissions import ROUTES
from api.web.forms import fields_of
from domain.events import EVENT_TYPES
from domain.policy import ENTRY_KINDS as POLICY_KINDS
from domain.policy import available_policies, load_policy_named
from projections.deadlines import RULES, DeadlineSchedule

DOCS = Path(__file__).resolve().parents[3] / "docs"
EVENTS = {cls.__name__: cls for cls in EVENT_TYPES}


def test_every_kind_of_entry_is_declared() -> None:
    assert set(ENTRY_KINDS) == set(EVENTS), "declare every event in ENTRY_KINDS"
    assert set(POLICY_KINDS) == set(EVENTS), "domain.policy.EntryKind lists every event"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.slug)
def test_a_command_has_everything_an_edge_needs(command: object) -> None:
    from api.app.catalogue import Command

    assert isinstance(command, Command)
    assert command.event in EVENTS
    assert BY_EVENT[command.event] is command, "one command per event"
    assert ROUTES[f"POST {command.path}"] == command.use_case
    assert command.use_case in USE_CASES
    assert len(command.access) == 7
    assert fields_of(command.body), "the web's form is generated from the body"
    assert f"| `{command.slug}` | `{command.event}` |" in (DOCS / "api.md").read_text()


@pytest.mark.parametrize("kind", sorted(ENTRY_KINDS))
def test_an_entry_kind_s_declarations_name_real_things(kind: str) -> None:
    declared = ENTRY_KINDS[kind]
    fields = {f.name for f in dataclasses.fields(EVENTS[kind])} | set(
        getattr(EVENTS[kind], "__annotations__", {})
    )
    for name in declared.third_party:
        assert name in fields, f"{kind}.{name} is not a field of the event"
    assert bool(declared.third_party) == bool(declared.why), kind
    for rule in declared.deadlines:
        assert rule in RULES, f"{kind}: unknown deadline rule {rule}"
    if declared.deadlines:
        assert kind in _handled(), f"{kind}: the deadlines projection ignores it"
    assert f"#### {kind}\n" in (DOCS / "events.md").read_text(), f"docs/events.md: {kind}"


def _handled() -> frozenset[str]:
    return DeadlineSchedule(load_policy_named("default")).event_types or frozenset()


# Entries the deadlines projection reads without opening or closing a rule: a transfer moves
# the pupil's open deadlines to the new academy, a re-joining gives new ones the academy the
# pupil rejoins, a purge removes them.
_BOOKKEEPING = {"TransferredWithinTrust", "RecordsPurged"}


def test_the_deadlines_projection_reads_only_declared_kinds() -> None:
    declared = {k for k, d in ENTRY_KINDS.items() if d.deadlines}
    assert _handled() - declared == _BOOKKEEPING


@pytest.mark.parametrize("name", available_policies())
def test_every_policy_decides_the_restricted_kinds(name: str) -> None:
    policy = load_policy_named(name)
    assert "SafeguardingCrossReferenced" in policy.visibility.restricted
    for kind in policy.visibility.restricted:
        assert kind in ENTRY_KINDS
    for rule in policy.visibility.roles.values():
        assert set(rule.see) <= set(ENTRY_KINDS)
