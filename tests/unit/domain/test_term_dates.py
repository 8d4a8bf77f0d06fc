"""Term dates (issue 16): the deadlines counted in school days (the SEND and child protection
files to the next school) count weekdays in term only, so a departure before a holiday is
due in the first days of the next term; without term dates every weekday counts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from domain.policy import load_policy
from tests.factories import a_pupil, on, policy
from tests.unit.domain.test_policy import DEFAULT_TEXT, refusal
from tests.unit.projections.test_deadlines import Schedule, assert_boundary

CALENDAR = """
[calendar]
terms = [
  { starts = 2025-09-03, ends = 2025-10-24 },
  { starts = 2025-11-03, ends = 2025-12-19 },
]
"""


def _with_terms(tmp_path: Path) -> Path:
    path = tmp_path / "terms.toml"
    path.write_text(DEFAULT_TEXT + CALENDAR, encoding="utf-8")
    return path


def test_five_school_days_across_half_term(tmp_path: Path) -> None:
    trust = load_policy(_with_terms(tmp_path))
    left = date(2025, 10, 22)  # a Wednesday, two days before half term
    # Thursday 23, Friday 24, then Monday 3 to Wednesday 5 November.
    assert trust.records_transfer_due(left) == date(2025, 11, 5)
    assert policy("default").records_transfer_due(left) == date(2025, 10, 29)


def test_a_departure_in_the_holiday_is_due_in_the_first_days_of_term(tmp_path: Path) -> None:
    trust = load_policy(_with_terms(tmp_path))
    assert trust.records_transfer_due(date(2025, 10, 27)) == date(2025, 11, 7)


def test_the_records_transfer_deadline_follows_the_calendar(tmp_path: Path) -> None:
    trust = load_policy(_with_terms(tmp_path))
    schedule, pupil = Schedule(trust), a_pupil(concerns=0)
    pupil.leave_trust(
        policy=trust,
        destination="Birch Academy",
        records_sent_on=None,
        receipt_acknowledged_on=None,
        receipt_acknowledged_by=None,
        **on(date(2025, 10, 22)),
    )
    schedule.feed(pupil)
    assert_boundary(schedule, "records_transfer", date(2025, 11, 5))


def test_past_the_last_term_given_weekdays_count(tmp_path: Path) -> None:
    trust = load_policy(_with_terms(tmp_path))
    assert trust.records_transfer_due(date(2026, 1, 5)) == date(2026, 1, 12)


def test_terms_must_be_in_order_and_not_overlap(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        DEFAULT_TEXT
        + "\n[calendar]\nterms = [\n  { starts = 2025-09-03, ends = 2025-10-24 },\n"
        + "  { starts = 2025-10-20, ends = 2025-10-01 },\n]\n",
        encoding="utf-8",
    )
    message = refusal(path)
    assert "calendar.terms.1.ends: 2025-10-01 is before the term starts" in message
    assert "calendar.terms.1.starts: 2025-10-20 is not after the previous term ends" in message
