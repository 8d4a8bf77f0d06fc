"""What a teacher reads, per policy (issue 16): what each trust's policy says staff must
know, never a safeguarding cross-reference; the default keeps concerns and advice to the
SEND team (a teacher still reads the entries they wrote: api/app/visibility.py)."""

from __future__ import annotations

import pytest

from domain.policy import available_policies, load_policy_named

# (policy, kinds a teacher reads, kinds a teacher does not)
CASES = [
    ("default", {"PlanAgreed", "PupilRejoined"}, {"ConcernRaised", "AdviceReceived"}),
    # Harmony §8.7: teachers "have read and are aware of relevant plans and records";
    # §10.1: monitoring reviewed half-termly with the class teacher.
    ("harmony", {"ConcernRaised", "AdviceReceived", "MonitoringReviewed"}, set()),
    # Humber: "information and strategies for support shared with all staff".
    ("humber", {"AdviceReceived", "PlanAgreed"}, {"ConcernRaised"}),
    ("aspire", {"PlanAgreed"}, {"ConcernRaised", "AdviceReceived"}),
]


@pytest.mark.parametrize(("name", "reads", "not_reads"), CASES, ids=[c[0] for c in CASES])
def test_a_teacher_reads_what_the_policy_says_staff_must_know(
    name: str, reads: set[str], not_reads: set[str]
) -> None:
    policy = load_policy_named(name)
    for kind in reads:
        assert policy.may_see("teacher", kind), (name, kind)
    for kind in not_reads:
        assert not policy.may_see("teacher", kind), (name, kind)


@pytest.mark.parametrize("name", available_policies())
def test_no_teacher_reads_a_safeguarding_cross_reference_or_the_la_s_letters_unasked(
    name: str,
) -> None:
    policy = load_policy_named(name)
    assert not policy.may_see("teacher", "SafeguardingCrossReferenced")
    assert policy.may_see("teacher", "PupilRejoined")
    assert policy.may_see("trust_admin", "PupilRejoined")
