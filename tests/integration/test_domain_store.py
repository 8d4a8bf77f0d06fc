"""Every event, through the encrypted store and back, on SQLite and PostgreSQL, unchanged."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.application import PupilRecords
from domain.errors import PupilPurged
from domain.events import EVENT_TYPES
from domain.pupil import Pupil
from tests.factories import (
    POLICY_NAMES,
    WEIGHTED_STEPS,
    a_full_history,
    a_pupil,
    play,
    policy,
    purge,
)

TRUSTS = {name: policy(name) for name in POLICY_NAMES}
histories = st.lists(
    st.tuples(st.sampled_from(WEIGHTED_STEPS), st.integers(0, 2**16), st.integers(0, 40)),
    max_size=40,
)


def _assert_round_trip(records: PupilRecords, pupil: Pupil) -> list[Any]:
    """Save the pupil's new events; each comes back from the store equal to what was
    saved, with the same committed payload, and the pupil rebuilds to the same state
    (a purged pupil is refused instead, before anything is decrypted)."""
    events = list(pupil.pending_events)
    records.save(pupil)
    stored = records.stored_events(pupil.id)[-len(events) :] if events else []
    assert [records.mapper.to_domain_event(s) for s in stored] == events
    committed = [json.loads(records.sealing_mapper.committed(s).payload) for s in stored]
    assert committed == [event.payload() for event in events]
    if pupil.purged:
        with pytest.raises(PupilPurged):
            records.get_pupil(pupil.id)
        with pytest.raises(PupilPurged):
            records.academy_of(pupil.id)
        return events
    assert records.get_pupil(pupil.id) == pupil  # the whole state, both dates of every entry
    # The scope check's shortcut names the academy the rebuilt record does.
    assert records.academy_of(pupil.id) == pupil.academy
    entries = records.entries(pupil.id)[-len(events) :] if events else []
    assert [e.seq for e in entries] == [event.originator_version for event in events]
    assert [e.type for e in entries] == [type(event).__name__ for event in events]
    assert [e.payload for e in entries] == [event.payload() for event in events]
    return events


def test_a_full_history_round_trips(records: PupilRecords) -> None:
    pupil = a_full_history(purged=False)
    events = _assert_round_trip(records, pupil)
    loaded = records.get_pupil(pupil.id)
    purge(loaded, date(2026, 9, 1))
    events += _assert_round_trip(records, loaded)
    assert {type(event) for event in events} == set(EVENT_TYPES)


def test_a_record_continues_after_reloading(records: PupilRecords) -> None:
    pupil = a_pupil(concerns=1)
    records.save(pupil)
    loaded = records.get_pupil(pupil.id)
    steps = [("need", 64, 1), ("status", 1, 1), ("agree", 20, 2)]
    assert play(loaded, TRUSTS["harmony"], steps) == 3
    _assert_round_trip(records, loaded)
    assert records.get_pupil(pupil.id).version == loaded.version


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(trust=st.sampled_from(POLICY_NAMES), history=histories)
def test_any_accepted_history_round_trips(records: PupilRecords, trust: str, history: Any) -> None:
    # One store for all examples: each example is a new pupil with its own id and key.
    pupil = a_pupil(concerns=0)
    play(pupil, TRUSTS[trust], history)
    _assert_round_trip(records, pupil)
