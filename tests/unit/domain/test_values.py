from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidUPN
from domain.values import NeedType, RegisterStatus, upn_check_letter, validate_upn, year_group_on


@pytest.mark.parametrize("upn", ["H801200001001", "A123456789012"])
def test_valid_upns(upn: str) -> None:
    assert validate_upn(upn) == upn


def test_wrong_check_letter_names_the_right_one() -> None:
    with pytest.raises(InvalidUPN, match="should start with 'H'"):
        validate_upn("B801200001001")


@pytest.mark.parametrize(
    "upn", ["", "H80120000100", "H8012000010011", "I801200001001", "h801200001001", "H80120000100O"]
)
def test_malformed_upns(upn: str) -> None:
    with pytest.raises(InvalidUPN, match="not valid"):
        validate_upn(upn)


@given(st.from_regex(r"\A\d{11}[0-9A-HJ-NP-RT-Z]\Z"))
def test_every_body_has_exactly_one_check_letter(body: str) -> None:
    letter = upn_check_letter(body)
    assert validate_upn(letter + body)
    for other in "ABCDEFGHJKLMNPQRTUVWXYZ".replace(letter, ""):
        with pytest.raises(InvalidUPN):
            validate_upn(other + body)


def test_census_codes() -> None:
    assert [s.census_code for s in RegisterStatus] == ["N", "N", "K", "E"]


def test_need_areas() -> None:
    assert NeedType.SLCN.area is not None and NeedType.NSA.area is None


def test_year_group_moves_up_each_september() -> None:
    assert year_group_on(3, date(2024, 9, 4), date(2025, 8, 31)) == 3
    assert year_group_on(3, date(2024, 9, 4), date(2025, 9, 1)) == 4
