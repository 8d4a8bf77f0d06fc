"""Property: whatever commands a pupil's record accepts, replaying its events rebuilds it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import POLICY_NAMES, WEIGHTED_STEPS, a_pupil, play, policy

TRUSTS = {name: policy(name) for name in POLICY_NAMES}
histories = st.lists(
    st.tuples(st.sampled_from(WEIGHTED_STEPS), st.integers(0, 2**16), st.integers(0, 40)),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(trust=st.sampled_from(POLICY_NAMES), history=histories)
def test_accepted_commands_replay_to_the_same_state(trust: str, history: Any) -> None:
    pupil = a_pupil(concerns=0)
    play(pupil, TRUSTS[trust], history)
    replayed: Any = None
    for event in pupil.collect_events():
        replayed = event.mutate(replayed)
    assert replayed == pupil


@settings(max_examples=50, deadline=None)
@given(trust=st.sampled_from(POLICY_NAMES), history=histories)
def test_every_accepted_event_round_trips_through_its_payload(trust: str, history: Any) -> None:
    pupil = a_pupil(concerns=0)
    play(pupil, TRUSTS[trust], history)
    for event in pupil.collect_events():
        fields = type(event).fields_from_payload(event.payload())
        assert all(getattr(event, name) == value for name, value in fields.items())
