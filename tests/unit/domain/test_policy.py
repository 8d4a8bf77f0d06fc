"""Trust policy files: the shipped ones load and say what the seeds say; bad ones are refused."""

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from domain.policy import (
    ENTRY_KINDS,
    REGISTER_STATUSES,
    ROLES,
    Deadlines,
    PolicyError,
    RetentionPolicy,
    TrustPolicy,
    add_years,
    available_policies,
    load_policy,
    load_policy_named,
    policies_dir,
    policy_from_env,
)

SHIPPED = ("default", "harmony", "inspire", "aspire", "humber", "leading-learners")
TRUSTS = {
    "harmony": ("The Harmony Trust", "000_af7a63096c2dd4b1.txt"),
    "inspire": ("Inspire Multi-Academy Trust", "001_9ad3ff4de417de2f.txt"),
    "aspire": ("The Aspire Educational Trust", "002_8f0df7ad589e4758.txt"),
    "humber": ("Humber Education Trust", "003_341d37a68179a999.txt"),
    "leading-learners": ("Leading Learners Trust", "004_8d75babfaf167061.txt"),
}


@pytest.fixture(scope="module", params=SHIPPED)
def shipped(request: pytest.FixtureRequest) -> TrustPolicy:
    return load_policy_named(request.param)


def policy(name: str) -> TrustPolicy:
    return load_policy_named(name)


# ----- every shipped policy ------------------------------------------------------------


def test_exactly_the_documented_policies_ship() -> None:
    assert set(available_policies()) == set(SHIPPED)


@pytest.mark.parametrize("name", TRUSTS)
def test_trust_files_name_their_trust_and_seed(name: str) -> None:
    trust, seed = TRUSTS[name]
    loaded = policy(name)
    assert (loaded.trust, loaded.seed) == (trust, seed)
    header = (policies_dir() / f"{name}.toml").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith(f"# {trust}") and seed in header


def test_teachers_never_see_safeguarding_cross_references(shipped: TrustPolicy) -> None:
    assert not shipped.may_see("teacher", "SafeguardingCrossReferenced")
    assert "SafeguardingCrossReferenced" in shipped.visibility.restricted


def test_imported_safeguarding_pointers_are_restricted_whether_or_not_listed(
    shipped: TrustPolicy,
) -> None:
    # No shipped policy lists SafeguardingReferenceImported: it is restricted all the same.
    assert "SafeguardingReferenceImported" in shipped.visibility.restricted
    for role in ("teacher", "dpo", "tribunal", "trust_admin", "auditor"):
        assert not shipped.may_see(role, "SafeguardingReferenceImported"), role
    assert shipped.may_see("dsl", "SafeguardingReferenceImported")
    listed = type(shipped.visibility).model_validate(
        {**shipped.visibility.model_dump(), "restricted": list(shipped.visibility.restricted)}
    )
    assert listed.restricted.count("SafeguardingReferenceImported") == 1


def test_auditor_sees_no_pupil_content(shipped: TrustPolicy) -> None:
    assert shipped.visible_kinds("auditor") == frozenset()
    assert not any(shipped.may_see("auditor", kind) for kind in ENTRY_KINDS)


def test_sendco_and_dsl_see_everything(shipped: TrustPolicy) -> None:
    assert shipped.visible_kinds("sendco") == frozenset(ENTRY_KINDS)
    assert shipped.visible_kinds("dsl") == frozenset(ENTRY_KINDS)


def test_every_role_has_visibility(shipped: TrustPolicy) -> None:
    assert set(shipped.visibility.roles) == set(ROLES)


def test_teachers_see_current_plans(shipped: TrustPolicy) -> None:
    assert shipped.may_see("teacher", "PlanAgreed")
    assert not shipped.may_see("teacher", "RecordsDisclosed")


def test_roles_without_restricted_access_do_not_get_it_through_see_all(
    shipped: TrustPolicy,
) -> None:
    assert shipped.may_see("dpo", "PlanAgreed")
    assert not shipped.may_see("dpo", "SafeguardingCrossReferenced")


def test_moves_into_k_or_e_need_a_primary_need(shipped: TrustPolicy) -> None:
    for t in shipped.send_register.transitions:
        if t.to in ("sen_support", "ehcp"):
            assert "primary_need" in t.requires, (t.from_, t.to)


def test_child_protection_records_are_kept_to_date_of_birth_plus_25(
    shipped: TrustPolicy,
) -> None:
    # IRMS Toolkit for Schools: child protection files DOB + 25; no seed says otherwise.
    assert shipped.retention.child_protection_years == 25
    assert shipped.retention_due(date(2012, 9, 3), "child_protection") == date(2037, 9, 3)


@pytest.mark.parametrize("name", [n for n in SHIPPED if n != "harmony"])
def test_sen_files_are_kept_to_date_of_birth_plus_31_unless_the_trust_says(name: str) -> None:
    # IRMS Toolkit for Schools: SEN files, reviews and EHC plans DOB + 31; the default
    # policy cites it, and the four trusts whose policies are silent take it.
    loaded = policy(name)
    assert loaded.retention.years == 31
    assert loaded.retention_due(date(2012, 9, 3)) == date(2043, 9, 3)
    assert loaded.retention_due_by(date(2012, 9, 3)) == date(2043, 9, 30)


def test_the_default_policy_cites_the_irms_toolkit() -> None:
    text = (policies_dir() / "default.toml").read_text(encoding="utf-8")
    retention = text[text.index("[retention]") : text.index("[deadlines]")]
    assert "IRMS" in retention and "DOB + 31" in retention and "DOB + 25" in retention
    assert "IRMS Information Management Toolkit for Schools" in text


def test_harmony_keeps_its_own_25_years() -> None:
    # Harmony §11 "until the pupil has reached the age of 25 years", §22 "DOB + 25 years".
    harmony = policy("harmony")
    assert (harmony.retention.years, harmony.retention.child_protection_years) == (25, 25)
    assert harmony.retention_due(date(2012, 9, 3)) == date(2037, 9, 3)


def test_the_period_that_ends_later_governs() -> None:
    default, born = policy("default"), date(2012, 2, 29)
    assert default.retention_governs(born, []) == ("sen_file", date(2043, 2, 28))
    assert default.retention_governs(born, ["child_protection"]) == ("sen_file", date(2043, 2, 28))
    longer = default.model_copy(
        update={"retention": default.retention.model_copy(update={"child_protection_years": 40})}
    )
    assert longer.retention_governs(born, ["child_protection"]) == (
        "child_protection",
        date(2052, 2, 29),
    )
    assert longer.retention_governs(born, []) == ("sen_file", date(2043, 2, 28))
    harmony = policy("harmony")  # a tie: the SEN file, which every record is, governs
    assert harmony.retention_governs(born, ["child_protection"]) == ("sen_file", date(2037, 2, 28))


def test_restricted_kinds_are_child_protection_records(shipped: TrustPolicy) -> None:
    for kind in shipped.visibility.restricted:
        assert shipped.retention_class(kind) == "child_protection"
    assert shipped.retention_class("SafeguardingReferenceImported") == "child_protection"
    assert shipped.retention_class("PlanAgreed") == "sen_file"
    assert shipped.retention_class("PupilRegistered") == "sen_file"
    with pytest.raises(ValueError, match="unknown entry kind 'Plan'"):
        shipped.retention_class("Plan")


def test_a_trust_that_restricts_more_kinds_keeps_them_as_child_protection() -> None:
    default = policy("default")
    visibility = default.visibility.model_copy(
        update={"restricted": (*default.visibility.restricted, "ConcernRaised")}
    )
    wider = default.model_copy(update={"visibility": visibility})
    assert wider.retention_class("ConcernRaised") == "child_protection"
    assert default.retention_class("ConcernRaised") == "sen_file"


def test_a_file_with_only_years_still_loads(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace(
        DEFAULT_TEXT[DEFAULT_TEXT.index("[retention]") : DEFAULT_TEXT.index("[deadlines]")],
        '[retention]\nanchor = "date_of_birth"\nyears = 30\n\n',
    )
    path = tmp_path / "old.toml"
    path.write_text(text, encoding="utf-8")
    loaded = load_policy(path)
    assert (loaded.retention.years, loaded.retention.child_protection_years) == (30, 25)
    no_section = tmp_path / "none.toml"
    no_section.write_text(text.replace('[retention]\nanchor = "date_of_birth"\nyears = 30\n', ""))
    assert load_policy(no_section).retention == RetentionPolicy()
    assert RetentionPolicy() == RetentionPolicy(years=31, child_protection_years=25)


def test_default_file_spells_out_the_code_defaults() -> None:
    default = policy("default")
    assert default.deadlines == Deadlines()
    assert set(default.send_register.statuses) == set(REGISTER_STATUSES)
    assert len(default.plans.kinds) == 10
    assert {rule.flag for rule in default.send_register.sub_flags} == {
        "nsa",
        "specialist_send_support",
    }


# ----- what each trust's text grounds ----------------------------------------------------


def test_harmony_monitors_before_the_register_and_uses_both_sub_flags() -> None:
    harmony = policy("harmony")
    assert "monitoring" in harmony.send_register.statuses
    assert harmony.allows_transition("none", "monitoring") is not None
    assert harmony.allows_transition("monitoring", "ehcp") is None
    assert harmony.sub_flag_rule("nsa") is not None
    specialist = harmony.sub_flag_rule("specialist_send_support")
    assert specialist is not None and specialist.status == "sen_support"
    assert "external_professional" in specialist.requires


def test_harmony_local_rules() -> None:
    harmony = policy("harmony")
    assert harmony.deadlines.monitoring_review_interval_days == 61
    assert harmony.deadlines.parental_agreement_renewal_months == 12
    assert harmony.deadlines.individual_plan_review_interval_days == 122
    assert harmony.safeguarding.notify_staff_of_log
    assert harmony.safeguarding.external_system == "CPOMS"
    timetable = harmony.reduced_timetable
    assert timetable.requires_parental_consent and timetable.requires_la_informed
    assert harmony.uses_plan_kind("interim_reduced_timetable")
    assert harmony.uses_plan_kind("peep") and not harmony.uses_plan_kind("exam_access")


def test_inspire_has_two_categories_and_copies_notes_to_parents() -> None:
    inspire = policy("inspire")
    assert inspire.send_register.statuses == ("none", "sen_support", "ehcp")
    assert inspire.concerns.copy_to_parents
    assert inspire.transition.share_requires_parental_agreement
    to_k = inspire.allows_transition("none", "sen_support")
    assert to_k is not None and "parents_informed" in to_k.requires
    assert inspire.allows_transition("none", "monitoring") is None
    assert inspire.send_register.sub_flags == ()


def test_aspire_deadlines() -> None:
    deadlines = policy("aspire").deadlines
    assert deadlines.annual_review_report_days == 14  # §14 "four weeks": the law says two
    assert deadlines.annual_review_notice_days == 14
    assert deadlines.annual_review_papers_days_before == 14
    assert deadlines.la_information_request_days == 42
    assert deadlines.reassessment_min_months == 6


def test_aspire_moves_successful_pupils_to_the_monitoring_list() -> None:
    aspire = policy("aspire")
    assert aspire.allows_transition("sen_support", "monitoring") is not None
    assert aspire.allows_transition("sen_support", "none") is None
    assert aspire.allows_transition("none", "monitoring") is None


def test_aspire_confidentiality_exam_access_and_parent_meetings() -> None:
    aspire = policy("aspire")
    assert aspire.disclosure.ehcp_requires_parental_consent
    assert {"send_tribunal_appeal", "ofsted_inspection", "next_setting_headteacher"} <= set(
        aspire.disclosure.ehcp_permitted_purposes
    )
    assert aspire.exam_access.lapse_on_entry_to_year == 7
    assert aspire.plans.parent_meetings_per_year == 2
    assert aspire.annual_review_report_due(date(2026, 3, 2)) == date(2026, 3, 16)


def test_humber_keeps_monitoring_pupils_removed_from_the_sen_record() -> None:
    humber = policy("humber")
    assert humber.allows_transition("sen_support", "monitoring") is not None
    assert humber.allows_transition("sen_support", "none") is None
    assert humber.uses_plan_kind("strategy_sheet") and humber.uses_plan_kind("individual_plan")


def test_leading_learners_informs_parents_of_every_register_decision() -> None:
    learners = policy("leading-learners")
    assert learners.send_register.statuses == ("none", "monitoring", "sen_support", "ehcp")
    assert all("parents_informed" in t.requires for t in learners.send_register.transitions)
    for kind in ("health_care_plan", "intimate_care_plan", "risk_assessment", "peep"):
        assert learners.uses_plan_kind(kind)


def test_other_trusts_take_the_code_of_practice_report_deadline() -> None:
    for name in ("default", "harmony", "inspire", "humber", "leading-learners"):
        assert policy(name).deadlines.annual_review_report_days == 14


# ----- dates ---------------------------------------------------------------------------


def test_leap_day_birthdays_fall_due_on_28_february() -> None:
    assert policy("default").retention_due(date(2008, 2, 29)) == date(2039, 2, 28)
    assert policy("harmony").retention_due(date(2008, 2, 29)) == date(2033, 2, 28)
    assert policy("default").retention_due(date(2007, 2, 28), "child_protection") == date(
        2032, 2, 28
    )
    assert add_years(date(2008, 2, 29), 4) == date(2012, 2, 29)


def test_statutory_dates() -> None:
    default = policy("default")
    assert default.phase_transfer_review_due(2027) == date(2027, 2, 15)
    assert default.phase_transfer_review_due(2027, post16=True) == date(2027, 3, 31)
    assert default.la_information_due(date(2026, 1, 5)) == date(2026, 2, 16)
    assert default.annual_review_notice_by(date(2026, 6, 15)) == date(2026, 6, 1)
    assert default.annual_review_papers_by(date(2026, 6, 15)) == date(2026, 6, 1)
    assert default.plan_review_due(date(2026, 9, 1)) == date(2027, 1, 1)


def test_unknown_vocabulary_in_queries_is_an_error_not_a_silent_no() -> None:
    default = policy("default")
    with pytest.raises(ValueError, match="unknown role 'headteacher'"):
        default.may_see("headteacher", "PlanAgreed")
    with pytest.raises(ValueError, match="unknown entry kind 'Plan'"):
        default.may_see("teacher", "Plan")
    with pytest.raises(ValueError, match="unknown register status 'K'"):
        default.allows_transition("none", "K")


def test_policies_are_immutable() -> None:
    with pytest.raises(ValidationError):
        policy("default").trust = "changed"  # type: ignore[misc]


# ----- malformed policies ---------------------------------------------------------------

DEFAULT_TEXT = (policies_dir() / "default.toml").read_text(encoding="utf-8")


def write(tmp_path: Path, old: str, new: str) -> Path:
    assert old in DEFAULT_TEXT, old
    path = tmp_path / "bad.toml"
    path.write_text(DEFAULT_TEXT.replace(old, new, 1), encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert all(line.startswith(f"{path}: ") for line in message.splitlines()), message
    return message


def test_bad_toml_syntax(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "[deadlines]", "[deadlines"))
    assert "invalid TOML" in message and "line" in message


def test_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, "annual_review_report_days = 14", "annual_review_reprot_days = 14")
    assert "deadlines.annual_review_reprot_days: unknown key" in refusal(path)


def test_negative_deadline(tmp_path: Path) -> None:
    path = write(tmp_path, "annual_review_report_days = 14", "annual_review_report_days = -3")
    assert "deadlines.annual_review_report_days: Input should be greater than 0" in refusal(path)


def test_deadline_must_be_a_whole_number(tmp_path: Path) -> None:
    path = write(tmp_path, "la_information_request_days = 42", "la_information_request_days = true")
    assert "deadlines.la_information_request_days: Input should be a valid integer" in refusal(path)


def test_month_day_must_exist_every_year(tmp_path: Path) -> None:
    path = write(tmp_path, '"02-15"', '"02-29"')
    assert "deadlines.phase_transfer_review_by: '02-29' is not a month-day" in refusal(path)


def test_transition_to_an_undeclared_status(tmp_path: Path) -> None:
    path = write(tmp_path, '"none", "monitoring", "sen_support", "ehcp"]', '"none", "sen_support"]')
    message = refusal(path)
    assert "register.transitions.0.to: 'monitoring' is not a declared status" in message
    assert "register.transitions.6.to: 'ehcp' is not a declared status" in message


def test_transition_that_drops_the_census_primary_need(tmp_path: Path) -> None:
    old = '{ from = "none", to = "sen_support", requires = ["reason", "decision_maker", '
    path = write(tmp_path, old + '"parents_informed", "primary_need"] }', old + "] }")
    assert "register.transitions.2.requires: none -> sen_support must require 'primary_need'" in (
        refusal(path)
    )


def test_sub_flag_on_an_undeclared_status(tmp_path: Path) -> None:
    path = write(tmp_path, 'flag = "nsa", status = "sen_support"', 'flag = "nsa", status = "none"')
    assert "register.sub_flags.0.status: nsa must attach to a declared" in refusal(path)


def test_unknown_role(tmp_path: Path) -> None:
    path = write(tmp_path, "auditor = { see = [] }", "auditor = { see = [] }\nheadteacher = {}")
    assert "visibility.roles.headteacher: unknown value 'headteacher'" in refusal(path)


def test_missing_role(tmp_path: Path) -> None:
    path = write(tmp_path, "auditor = { see = [] }\n", "")
    assert "visibility.roles: every role needs an entry; missing: auditor" in refusal(path)


def test_unknown_entry_kind(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '"EntryCorrected", "PupilRejoined",\n] }',
        '"EntryCorrected", "SafeguardingNote",\n] }',
    )
    assert "visibility.roles.teacher.see.13: unknown value 'SafeguardingNote'" in refusal(path)


def test_unknown_plan_kind(tmp_path: Path) -> None:
    path = write(tmp_path, '"exam_access",\n]', '"exam_access", "iep",\n]')
    assert "plans.kinds.10: unknown value 'iep'" in refusal(path)


def test_teachers_cannot_be_given_restricted_entries(tmp_path: Path) -> None:
    path = write(
        tmp_path, '"EntryCorrected", "PupilRejoined",\n] }', '"SafeguardingCrossReferenced",\n] }'
    )
    assert "visibility.roles.teacher.see.12: SafeguardingCrossReferenced is restricted" in (
        refusal(path)
    )
    path = write(tmp_path, "\n] }", "\n], include_restricted = true }")
    assert "visibility.roles.teacher.include_restricted: teachers may never see" in refusal(path)


def test_auditor_cannot_be_given_pupil_content(tmp_path: Path) -> None:
    path = write(tmp_path, "auditor = { see = [] }", 'auditor = { see = ["PupilRegistered"] }')
    assert "visibility.roles.auditor: the auditor verifies the log without pupil content" in (
        refusal(path)
    )


def test_missing_trust_name(tmp_path: Path) -> None:
    path = write(tmp_path, 'trust = "Chronicle default policy"\n', "")
    assert "trust: required setting is missing" in refusal(path)


MORE_REFUSALS = [
    (
        '{ from = "monitoring", to = "none"',
        '{ from = "none", to = "none"',
        "register.transitions.1.to: a transition must change the status",
    ),
    (
        '{ from = "monitoring", to = "none"',
        '{ from = "none", to = "monitoring"',
        "register.transitions.1: none -> monitoring is listed twice",
    ),
    (
        'restricted = ["SafeguardingCrossReferenced"]',
        "restricted = []",
        "visibility.restricted: must include SafeguardingCrossReferenced",
    ),
    (
        "dsl = { see_all = true, include_restricted = true }",
        "dsl = { see_all = true }",
        "visibility.roles.dsl.include_restricted: the DSL audits every",
    ),
    (
        "dpo = { see_all = true }",
        'dpo = { see_all = true, see = ["PlanAgreed"] }',
        "visibility.roles.dpo.see: give either see_all = true or a see list, not both",
    ),
    (
        "ehcp_permitted_purposes = []",
        'ehcp_permitted_purposes = ["ofsted_inspection"]',
        "disclosure.ehcp_permitted_purposes: exceptions to parental consent need",
    ),
    (
        "annual_review_papers_days_before = 14",
        "annual_review_papers_days_before = 21",
        "deadlines.annual_review_papers_days_before: papers (21 days before the meeting)",
    ),
    (
        'statuses = ["none", "monitoring", "sen_support", "ehcp"]',
        'statuses = ["none", "monitoring", "sen_support", "ehcp", "none"]',
        "register.statuses.4: 'none' is listed twice",
    ),
    (
        '"reason", "decision_maker", "parents_informed", "primary_need", "ehc_plan_issued"] }',
        '"reason", "decision_maker", "parents_informed", "primary_need"] }',
        "register.transitions.6.requires: none -> ehcp must require 'ehc_plan_issued'",
    ),
]

SEN_YEARS = "years = 31"
CP_YEARS = "child_protection_years = 25"
RETENTION_REFUSALS = [
    (SEN_YEARS, "years = 0", "retention.years: 0 years is not a retention period"),
    (SEN_YEARS, "years = -3", "retention.years: -3 years is not a retention period"),
    (SEN_YEARS, "years = 101", "retention.years: 101 years is not a retention period"),
    (SEN_YEARS, "years = 18", "retention.years: 18 years would purge records before the pupil"),
    (SEN_YEARS, "years = 31.5", "retention.years: Input should be a valid integer (got 31.5)"),
    (SEN_YEARS, 'years = "31"', "retention.years: Input should be a valid integer (got '31')"),
    (CP_YEARS, "child_protection_years = 0", "retention.child_protection_years: 0 years is not"),
    (
        CP_YEARS,
        "child_protection_years = 7",
        "retention.child_protection_years: 7 years would purge records before the pupil is 25:",
    ),
    (CP_YEARS, "child_protection_years = 1000", "child_protection_years: 1000 years is not a"),
    (CP_YEARS, "child_protection = 25", "retention.child_protection: unknown key"),
]


@pytest.mark.parametrize(("old", "new", "expected"), RETENTION_REFUSALS)
def test_retention_refusals(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert expected in refusal(write(tmp_path, old, new))


def test_both_bad_periods_are_named_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, f"{SEN_YEARS}  ", "years = 10")
    path.write_text(path.read_text().replace(CP_YEARS, "child_protection_years = -1"))
    message = refusal(path)
    assert "retention.years: 10 years" in message
    assert "retention.child_protection_years: -1 years" in message


@pytest.mark.parametrize(("old", "new", "expected"), MORE_REFUSALS)
def test_more_refusals(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert expected in refusal(write(tmp_path, old, new))


def test_unreachable_status(tmp_path: Path) -> None:
    text = DEFAULT_TEXT
    for line in text.splitlines():
        if 'to = "monitoring"' in line:
            text = text.replace(line + "\n", "")
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    assert "register.transitions: no transition leads to declared status 'monitoring'" in (
        refusal(path)
    )


# ----- finding a policy ----------------------------------------------------------------


def test_unknown_policy_name_lists_the_known_ones() -> None:
    with pytest.raises(PolicyError, match=r"policies/nosuch\.toml: no such policy; known: aspire"):
        load_policy_named("nosuch")
    with pytest.raises(PolicyError, match="not a policy name"):
        load_policy_named("../secrets")


def test_missing_file() -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy("/nonexistent/policy.toml")


def test_policy_chosen_by_environment(tmp_path: Path) -> None:
    assert policy_from_env({}).trust == "Chronicle default policy"
    assert policy_from_env({"CHRONICLE_POLICY": "aspire"}).trust == "The Aspire Educational Trust"
    copy = tmp_path / "ours.toml"
    copy.write_text((policies_dir() / "humber.toml").read_text(encoding="utf-8"), encoding="utf-8")
    assert policy_from_env({"CHRONICLE_POLICY": str(copy)}).trust == "Humber Education Trust"
