"""Register moves and sub-flags as each trust's policy allows: one test per rule."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from domain.errors import DateOutOfRange, InvalidEntry, NotAllowedByPolicy, TransitionNotAllowed
from domain.policy import TrustPolicy
from domain.pupil import Pupil
from domain.values import AgreementKind, RegisterStatus, SubFlag
from tests.factories import (
    DEFAULT,
    a_pupil,
    involve,
    issue_plan,
    move,
    on,
    policy,
    primary_need,
    refused,
    request_assessment,
    sign,
)

DAY = date(2025, 2, 3)
HARMONY, INSPIRE, ASPIRE, HUMBER = (policy(n) for n in ("harmony", "inspire", "aspire", "humber"))


def _pupil() -> Pupil:
    pupil = a_pupil(concerns=0)
    pupil.collect_events()
    return pupil


def _change(pupil: Pupil, trust: TrustPolicy, status: RegisterStatus, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "policy": trust,
        "status": status,
        "sub_flags": (),
        "reason": "Discussed with parents at the review",
        "decision_maker": "OAK-sendco-1",
        "parents_informed_on": DAY,
    } | on(DAY)
    return args | kw


def _on_sen_support(trust: TrustPolicy = DEFAULT, flags: tuple[SubFlag, ...] = ()) -> Pupil:
    pupil = _pupil()
    primary_need(pupil, date(2025, 1, 6))
    move(pupil, date(2025, 1, 7), RegisterStatus.SEN_SUPPORT, policy=trust, flags=flags)
    pupil.collect_events()
    return pupil


def test_a_category_the_trust_does_not_use_is_refused() -> None:
    pupil = _pupil()
    refused(
        pupil,
        TransitionNotAllowed,
        "this trust's register has no monitoring category",
        pupil.change_register_status,
        **_change(pupil, INSPIRE, RegisterStatus.MONITORING),
    )


def test_a_move_the_policy_does_not_list_is_refused() -> None:
    pupil = _on_sen_support(HUMBER)
    refused(
        pupil,
        TransitionNotAllowed,
        "does not allow moving from sen_support to none; from sen_support it allows: "
        "monitoring, ehcp",
        pupil.change_register_status,
        **_change(pupil, HUMBER, RegisterStatus.NONE),
    )


def test_aspire_has_no_route_from_none_to_monitoring() -> None:
    pupil = _pupil()
    refused(
        pupil,
        TransitionNotAllowed,
        "does not allow moving from none to monitoring",
        pupil.change_register_status,
        **_change(pupil, ASPIRE, RegisterStatus.MONITORING),
    )


def test_parents_must_be_informed_where_the_policy_says() -> None:
    pupil = _pupil()
    refused(
        pupil,
        TransitionNotAllowed,
        r"moving from none to monitoring needs the date parents were informed",
        pupil.change_register_status,
        **_change(pupil, HARMONY, RegisterStatus.MONITORING, parents_informed_on=None),
    )


def test_the_default_policy_does_not_ask_parents_informed_for_monitoring() -> None:
    pupil = _pupil()
    pupil.change_register_status(
        **_change(pupil, DEFAULT, RegisterStatus.MONITORING, parents_informed_on=None)
    )
    assert pupil.status == RegisterStatus.MONITORING


def test_parents_cannot_be_informed_in_the_future() -> None:
    pupil = _pupil()
    refused(
        pupil,
        DateOutOfRange,
        "the date parents were informed is 2025-03-01, after the day it is recorded",
        pupil.change_register_status,
        **_change(pupil, HARMONY, RegisterStatus.MONITORING, parents_informed_on=date(2025, 3, 1)),
    )


def test_census_k_needs_a_primary_need_whatever_the_policy() -> None:
    pupil = _pupil()
    refused(
        pupil,
        TransitionNotAllowed,
        r"sen_support \(census K\) needs a primary need",
        pupil.change_register_status,
        **_change(pupil, HARMONY, RegisterStatus.SEN_SUPPORT),
    )


def test_e_needs_an_issued_ehc_plan() -> None:
    pupil = _on_sen_support()
    refused(
        pupil,
        TransitionNotAllowed,
        "moving from sen_support to ehcp needs an EHC plan issued by the local authority: "
        "record EHCPlanIssued first",
        pupil.change_register_status,
        **_change(pupil, DEFAULT, RegisterStatus.EHCP),
    )


def test_leaving_e_needs_the_plan_ceased() -> None:
    pupil = _on_sen_support()
    request_assessment(pupil, date(2025, 1, 8))
    issue_plan(pupil, date(2025, 1, 20))
    move(pupil, date(2025, 1, 21), RegisterStatus.EHCP)
    pupil.collect_events()
    refused(
        pupil,
        TransitionNotAllowed,
        "needs the EHC plan ceased by the local authority: record EHCPlanCeased first",
        pupil.change_register_status,
        **_change(pupil, DEFAULT, RegisterStatus.SEN_SUPPORT),
    )


def test_a_sub_flag_the_trust_does_not_use_is_refused() -> None:
    pupil = _pupil()
    primary_need(pupil, date(2025, 1, 6))
    pupil.collect_events()
    refused(
        pupil,
        NotAllowedByPolicy,
        "this trust's policy does not use the nsa sub-flag",
        pupil.change_register_status,
        **_change(pupil, HUMBER, RegisterStatus.SEN_SUPPORT, sub_flags=(SubFlag.NSA,)),
    )


def test_a_sub_flag_qualifies_only_its_status() -> None:
    pupil = _pupil()
    refused(
        pupil,
        TransitionNotAllowed,
        "the nsa sub-flag qualifies sen_support, not monitoring",
        pupil.change_register_status,
        **_change(pupil, DEFAULT, RegisterStatus.MONITORING, sub_flags=(SubFlag.NSA,)),
    )


def test_nsa_and_specialist_support_contradict_each_other() -> None:
    pupil = _on_sen_support()
    both = (SubFlag.NSA, SubFlag.SPECIALIST_SEND_SUPPORT)
    refused(
        pupil,
        TransitionNotAllowed,
        "contradict each other: choose one",
        pupil.change_register_status,
        **_change(pupil, DEFAULT, RegisterStatus.SEN_SUPPORT, sub_flags=both),
    )


def test_a_sub_flag_is_given_once() -> None:
    pupil = _on_sen_support()
    refused(
        pupil,
        TransitionNotAllowed,
        "each sub-flag may be given once",
        pupil.change_register_status,
        **_change(pupil, DEFAULT, RegisterStatus.SEN_SUPPORT, sub_flags=(SubFlag.NSA,) * 2),
    )


def test_specialist_support_needs_an_outside_professional() -> None:
    pupil = _on_sen_support()
    flags = (SubFlag.SPECIALIST_SEND_SUPPORT,)
    refused(
        pupil,
        TransitionNotAllowed,
        "the specialist_send_support sub-flag needs an outside professional involved by "
        "2025-02-03: record ExternalAgencyInvolved first",
        pupil.change_register_status,
        **_change(pupil, DEFAULT, RegisterStatus.SEN_SUPPORT, sub_flags=flags),
    )


def test_an_outside_professional_involved_later_does_not_count() -> None:
    pupil = _on_sen_support()
    involve(pupil, date(2025, 2, 10))  # back-dated entries are normal; this one is later
    pupil.collect_events()
    flags = (SubFlag.SPECIALIST_SEND_SUPPORT,)
    refused(
        pupil,
        TransitionNotAllowed,
        "needs an outside professional involved by 2025-02-03",
        pupil.change_register_status,
        **_change(pupil, DEFAULT, RegisterStatus.SEN_SUPPORT, sub_flags=flags),
    )


def test_harmony_specialist_support_needs_parents_agreement_too() -> None:
    pupil = _on_sen_support(HARMONY)
    involve(pupil, date(2025, 1, 20))
    pupil.collect_events()
    flags = (SubFlag.SPECIALIST_SEND_SUPPORT,)
    refused(
        pupil,
        TransitionNotAllowed,
        r"needs parents' signed agreement in force on 2025-02-03: record "
        r"ParentalAgreementSigned \(external_professionals\) first",
        pupil.change_register_status,
        **_change(pupil, HARMONY, RegisterStatus.SEN_SUPPORT, sub_flags=flags),
    )
    sign(pupil, date(2025, 1, 21), AgreementKind.EXTERNAL_PROFESSIONALS, policy=HARMONY)
    pupil.change_register_status(
        **_change(pupil, HARMONY, RegisterStatus.SEN_SUPPORT, sub_flags=flags)
    )
    assert pupil.sub_flags == flags


@pytest.mark.parametrize(
    ("field", "what"), [("reason", "reason"), ("decision_maker", "decision maker")]
)
def test_every_change_says_why_and_who_decided(field: str, what: str) -> None:
    pupil = _pupil()
    refused(
        pupil,
        InvalidEntry,
        f"{what} is required",
        pupil.change_register_status,
        **_change(pupil, DEFAULT, RegisterStatus.MONITORING, **{field: ""}),
    )


def test_a_key_worker_is_named_by_staff_id_once() -> None:
    from datetime import date

    from domain.errors import InvalidEntry
    from tests.factories import a_pupil, on

    pupil, day = a_pupil(), date(2025, 9, 8)
    pupil.assign_key_worker(key_worker=" OAK-teacher-3 ", **on(day))
    assert pupil.key_worker == "OAK-teacher-3"
    with pytest.raises(InvalidEntry, match="already"):
        pupil.assign_key_worker(key_worker="OAK-teacher-3", **on(day))
    with pytest.raises(InvalidEntry, match="never by name"):
        pupil.assign_key_worker(key_worker="Mrs Okafor", **on(day))
    pupil.assign_key_worker(key_worker="OAK-sendco-1", **on(day))
    assert pupil.key_worker == "OAK-sendco-1"
