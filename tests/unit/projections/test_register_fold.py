"""The register's fold: what a pupil's register facts add up to, mirroring the aggregate."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

from projections.base import ProjectedEvent
from projections.register import Fact, fact_of, fold

D = date(2025, 1, 6)


def day(n: int) -> date:
    return date.fromordinal(D.toordinal() + n)


def registered(academy: str = "OAK", by: str = "OAK-sendco-1", on: int = 0) -> Fact:
    return Fact(1, "PupilRegistered", day(on), academy=academy, staff_id=by)


def status(seq: int, value: str, on: int, flags: str = "", by: str = "OAK-sendco-2") -> Fact:
    return Fact(seq, "RegisterStatusChanged", day(on), status=value, sub_flags=flags, staff_id=by)


def need(seq: int, code: str, primary: bool, on: int = 1) -> Fact:
    return Fact(seq, "NeedRecorded", day(on), need=code, is_primary=primary)


def test_a_new_pupil_is_not_on_the_register_since_registration() -> None:
    state = fold([registered()])
    assert state is not None
    assert (state.academy, state.status, state.census_code) == ("OAK", "none", "N")
    assert state.since == day(0) and state.key_worker == "OAK-sendco-1"
    assert state.primary_need is None and state.needs == {}


def test_since_moves_with_the_status_not_with_a_sub_flag() -> None:
    state = fold(
        [
            registered(),
            need(2, "SLCN", True),
            status(3, "sen_support", on=10),
            status(4, "sen_support", on=30, flags="nsa", by="OAK-sendco-3"),
        ]
    )
    assert state is not None
    assert (state.status, state.census_code, state.sub_flags) == ("sen_support", "K", "nsa")
    assert state.since == day(10)
    assert state.key_worker == "OAK-sendco-3"  # whoever recorded the latest status


def test_a_new_primary_need_makes_the_old_one_secondary_and_withdrawal_removes() -> None:
    state = fold(
        [
            registered(),
            need(2, "SLCN", True),
            need(3, "SEMH", False),
            need(4, "ASD", True),
            Fact(5, "NeedWithdrawn", day(5), need="SEMH"),
        ]
    )
    assert state is not None
    assert state.primary_need == "ASD"
    assert state.needs == {"SLCN": False, "ASD": True}


def test_transfer_changes_the_academy_and_leaving_clears_it() -> None:
    moved = fold([registered(), Fact(2, "TransferredWithinTrust", day(3), academy="RIV")])
    assert moved is not None and moved.academy == "RIV" and moved.left_on is None
    left = fold([registered(), Fact(2, "LeftTrust", day(9))])
    assert left is not None and left.academy is None and left.left_on == day(9)


def test_facts_before_a_registration_are_ignored() -> None:
    assert fold([status(2, "monitoring", on=1)]) is None
    assert fold([]) is None


def _event(kind: str, payload: dict[str, Any] | None, seq: int = 2) -> ProjectedEvent:
    return ProjectedEvent(7, uuid4(), seq, kind, payload)


def test_fact_of_reads_codes_and_dates_only() -> None:
    base = {"happened_on": "2025-02-03", "recorded_by": {"staff_id": "X-1", "role": "sendco"}}
    changed = _event(
        "RegisterStatusChanged",
        base
        | {
            "status": "sen_support",
            "sub_flags": ["nsa"],
            "reason": "free text that must not be kept",
            "decision_maker": "Mrs Example",
            "parents_informed_on": None,
        },
    )
    assert fact_of(changed) == Fact(
        2, "RegisterStatusChanged", date(2025, 2, 3), status="sen_support", sub_flags="nsa",
        staff_id="X-1",
    )  # fmt: skip
    assert fact_of(_event("ConcernRaised", base | {"description": "x"})) is None
    assert fact_of(_event("PupilRegistered", None, seq=1)) is None  # shredded: unreadable


def test_a_named_key_worker_holds_over_later_register_decisions() -> None:
    from datetime import date

    from projections.register import Fact, fold

    day = date(2025, 9, 8)
    facts = [
        Fact(1, "PupilRegistered", day, academy="OAK", staff_id="OAK-sendco-1"),
        Fact(2, "RegisterStatusChanged", day, status="monitoring", sub_flags="", staff_id="S2"),
        Fact(3, "KeyWorkerAssigned", day, staff_id="OAK-teacher-3"),
        Fact(4, "RegisterStatusChanged", day, status="sen_support", sub_flags="", staff_id="S4"),
    ]
    state = fold(facts)
    assert state is not None and state.key_worker == "OAK-teacher-3"
    unnamed = fold(facts[:2] + facts[3:])
    assert unnamed is not None and unnamed.key_worker == "S4"
