"""Subject access: the two-month extension of a complex request (UK GDPR art. 12(3)) — once,
told within the first month, only for a request on the record; at the boundaries."""

from __future__ import annotations

from datetime import date

import pytest

from domain.errors import DateOutOfRange, InvalidEntry, OutOfOrder, UnknownEntry
from domain.pupil import Pupil
from tests.factories import DPO, a_pupil, on


def _requested(received: date = date(2025, 1, 31)) -> tuple[Pupil, int]:
    pupil = a_pupil(concerns=1)
    pupil.request_subject_access(
        request_reference="SAR-2025-001", requester_relationship="parent", **on(received, DPO)
    )
    return pupil, pupil.version


@pytest.mark.parametrize(
    ("told", "allowed"),
    [(date(2025, 2, 27), True), (date(2025, 2, 28), True), (date(2025, 3, 1), False)],
)
def test_an_extension_is_told_within_the_first_month(told: date, allowed: bool) -> None:
    pupil, request = _requested()  # due 28 February 2025
    if allowed:
        due = pupil.extend_subject_access(
            request_seq=request, reason="Complex request", **on(told, DPO)
        )
        assert due == date(2025, 4, 28)
        assert pupil.subject_access[request] == (date(2025, 4, 28), True)
    else:
        with pytest.raises(DateOutOfRange, match="within the first month"):
            pupil.extend_subject_access(
                request_seq=request, reason="Complex request", **on(told, DPO)
            )


def test_an_extension_is_made_once_for_a_request_on_the_record() -> None:
    pupil, request = _requested()
    with pytest.raises(UnknownEntry, match="not a subject access request"):
        pupil.extend_subject_access(
            request_seq=request - 1, reason="Complex", **on(date(2025, 2, 3), DPO)
        )
    with pytest.raises(InvalidEntry, match="reason"):
        pupil.extend_subject_access(request_seq=request, reason=" ", **on(date(2025, 2, 3), DPO))
    pupil.extend_subject_access(request_seq=request, reason="Complex", **on(date(2025, 2, 3), DPO))
    with pytest.raises(OutOfOrder, match="extended already"):
        pupil.extend_subject_access(
            request_seq=request, reason="Still complex", **on(date(2025, 2, 4), DPO)
        )
