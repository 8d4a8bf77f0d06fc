"""Safeguarding cross-references: a brief note and the DSL's decision, never the detail."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from domain.errors import InvalidEntry, NotAllowedByPolicy
from domain.policy import TrustPolicy
from domain.pupil import Pupil
from domain.values import DslDecision
from tests.factories import DEFAULT, a_pupil, on, policy, refused

DAY = date(2025, 2, 3)


def _pupil() -> Pupil:
    pupil = a_pupil(concerns=0)
    pupil.collect_events()
    return pupil


def _cross_reference(trust: TrustPolicy = DEFAULT, **kw: Any) -> dict[str, Any]:
    return (
        {
            "policy": trust,
            "cpoms_log_id": "CP-2025-00417",
            "note": "CPOMS log exists; speak to the DSL before any home visit.",
            "dsl_decision": DslDecision.MONITOR_IN_SCHOOL,
            "decided_by": "OAK-dsl-1",
        }
        | on(DAY)
        | kw
    )


def test_a_brief_note_is_recorded() -> None:
    pupil = _pupil()
    pupil.cross_reference_safeguarding(**_cross_reference())
    assert pupil.kinds[-1] == "SafeguardingCrossReferenced"


def test_a_note_longer_than_the_policy_allows_is_refused() -> None:
    pupil = _pupil()
    limit = DEFAULT.safeguarding.brief_note_max_chars
    refused(
        pupil,
        NotAllowedByPolicy,
        f"the note is {limit + 1} characters; this trust keeps cross-reference notes to one "
        f"line of at most {limit}",
        pupil.cross_reference_safeguarding,
        **_cross_reference(note="x" * (limit + 1)),
    )


def test_a_note_of_exactly_the_limit_is_brief_enough() -> None:
    pupil = _pupil()
    limit = DEFAULT.safeguarding.brief_note_max_chars
    pupil.cross_reference_safeguarding(**_cross_reference(note="x" * limit))
    assert len(pupil.pending_events) == 1


def test_a_note_of_several_lines_is_refused() -> None:
    pupil = _pupil()
    refused(
        pupil,
        NotAllowedByPolicy,
        "one line",
        pupil.cross_reference_safeguarding,
        **_cross_reference(note="CPOMS log exists.\nSee DSL."),
    )


def test_the_dsl_who_decided_is_named_where_the_dsl_decides() -> None:
    pupil = _pupil()
    refused(
        pupil,
        NotAllowedByPolicy,
        r"the DSL decides whether a matter is safeguarding: name the DSL who decided",
        pupil.cross_reference_safeguarding,
        **_cross_reference(policy("harmony"), decided_by=None),
    )


@pytest.mark.parametrize("log_id", ["CP 2025 00417 child disclosed", "C" * 65])
def test_the_log_id_is_an_id_not_a_description(log_id: str) -> None:
    pupil = _pupil()
    with pytest.raises(InvalidEntry) as refusal:
        pupil.cross_reference_safeguarding(**_cross_reference(cpoms_log_id=log_id))
    assert "that is not a CPOMS log id" in str(refusal.value)
    assert log_id not in str(refusal.value)  # never echo what may be safeguarding detail
    assert pupil.pending_events == []


def test_a_note_is_required() -> None:
    pupil = _pupil()
    refused(
        pupil,
        InvalidEntry,
        "the brief note is required",
        pupil.cross_reference_safeguarding,
        **_cross_reference(note=" "),
    )
