"""The statutory floor under every policy (issue 16): a `[deadlines]` setting looser than the
law is refused when the policy is loaded (so at start), naming the file, the setting and the
statute; a stricter one is accepted; every shipped policy stands on the floor."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.policy import available_policies, load_policy, load_policy_named
from domain.statute import FLOORS
from tests.unit.domain.test_policy import DEFAULT_TEXT, refusal, write

# (the default file's line, a looser value, a stricter value)
CASES = {
    "annual_review_interval_months": ("= 12", "13", "11"),
    "annual_review_notice_days": ("= 14", "13", "21"),
    "annual_review_papers_days_before": ("= 14", "10", "14"),
    "annual_review_report_days": ("= 14", "28", "10"),
    "la_information_request_days": ("= 42", "43", "35"),
    "phase_transfer_review_by": ('= "02-15"', '"02-16"', '"01-31"'),
    "post16_transfer_review_by": ('= "03-31"', '"04-01"', '"03-01"'),
    "records_transfer_school_days": ("= 5", "16", "3"),
    "subject_access_months": ("= 1", "2", "1"),
}


def test_every_floor_has_a_case() -> None:
    assert set(CASES) == set(FLOORS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_looser_value_is_refused_naming_the_setting_and_the_statute(
    tmp_path: Path, name: str
) -> None:
    line, looser, _ = CASES[name]
    old = f"{name} {line}"
    assert old in DEFAULT_TEXT
    message = refusal(write(tmp_path, old, f"{name} = {looser}"))
    assert f"deadlines.{name}: " in message
    assert FLOORS[name].statute in message
    assert "never looser" in message


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_stricter_value_is_accepted(tmp_path: Path, name: str) -> None:
    line, _, stricter = CASES[name]
    old = f"{name} {line}"
    load_policy(write(tmp_path, old, f"{name} = {stricter}"))


def test_aspire_s_four_weeks_is_refused_and_the_shipped_file_keeps_the_law(tmp_path: Path) -> None:
    message = refusal(
        write(tmp_path, "annual_review_report_days = 14", "annual_review_report_days = 28")
    )
    assert "deadlines.annual_review_report_days: 28 is longer than the law allows" in message
    assert "SEND Regs 2014 reg. 20(7)" in message
    assert load_policy_named("aspire").deadlines.annual_review_report_days == 14


@pytest.mark.parametrize("name", available_policies())
def test_every_shipped_policy_stands_on_the_floor(name: str) -> None:
    deadlines = load_policy_named(name).deadlines
    for setting, floor in FLOORS.items():
        assert not floor.looser(getattr(deadlines, setting)), (name, setting)
