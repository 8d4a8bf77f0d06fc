"""Who sees a safeguarding pointer (api/app/visibility.py): a teacher is told nothing of it,
unless the policy's `safeguarding.notify_staff_of_log` asks that staff be told a log
exists (Harmony §11), when it is shown masked — kind and dates, never its content."""

from __future__ import annotations

import pytest

from api.app.visibility import Entry, Reader, Shown, decide
from domain.policy import load_policy_named
from domain.values import Role

TEACHER = Reader("OAK-teacher-1", Role.TEACHER)
KINDS = ("SafeguardingCrossReferenced", "SafeguardingReferenceImported")


@pytest.mark.parametrize("kind", KINDS)
def test_a_teacher_is_told_of_a_log_only_where_the_policy_says_so(kind: str) -> None:
    harmony, default = load_policy_named("harmony"), load_policy_named("default")
    assert harmony.safeguarding.notify_staff_of_log
    assert not default.safeguarding.notify_staff_of_log
    entry = Entry(kind, 3, "OAK-dsl-1")
    assert decide(harmony, TEACHER, entry).shown is Shown.MASKED
    assert decide(default, TEACHER, entry).shown is Shown.OMITTED
    # Other hidden kinds stay omitted for teachers, and other roles still see it masked.
    assert decide(harmony, TEACHER, Entry("RecordsDisclosed", 4, "x")).shown is Shown.OMITTED
    dpo = Reader("TRUST-dpo-1", Role.DPO)
    assert decide(default, dpo, entry).shown is Shown.MASKED
