"""The web pages without a browser (FastAPI TestClient), on SQLite and PostgreSQL: sessions,
CSRF, permissions, validation, concurrency, masking and the access log."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from api.app.access import access_records
from api.app.caller import Access
from api.app.catalogue import COMMANDS
from api.app.permissions import USE_CASES, access
from api.web.permissions import PAGES, missing_rows, page_access
from api.web.pupils import REGISTER_PAGE
from api.web.sessions import COOKIE
from domain.values import Role
from tests.factories import a_pupil, agree
from tests.web.conftest import SAFEGUARDING_NOTE, WebClient, csrf_of


def concern(version: int, csrf: str, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "version": str(version),
        "source": "teacher",
        "area_of_need": "cognition_and_learning",
        "description": "Struggles to copy from the board",
        "evidence": "",
        "happened_on": "2025-01-15",
        **extra,
    }


def test_a_page_needs_a_session(web: WebClient) -> None:
    pupil = web.add_pupil()
    answer = web.client.get(f"/ui/pupils/{pupil.id}", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/ui/sign-in?next=/ui/pupils/{pupil.id}"
    assert web.client.get("/", follow_redirects=False).headers["location"] == "/ui/sign-in"


def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_it(web: WebClient) -> None:
    answer = web.sign_in(web.person("OAK-sendco-1", "sendco"))
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/register"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "secure" not in flags  # served over http here
    session_id = cookie.split(";")[0].split("=", 1)[1]
    assert len(session_id) >= 43  # 256 random bits, nothing else
    page = web.client.get("/ui/register")
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"]
    out = web.client.post("/ui/sign-out", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 200 and "Sign in" in out.text
    web.client.cookies.set(COOKIE, session_id)  # the old cookie no longer works
    again = web.client.get("/ui/register", follow_redirects=False)
    assert again.status_code == 303


def test_the_cookie_is_secure_over_https(web: WebClient) -> None:
    token = web.person("OAK-sendco-1", "sendco")
    with TestClient(web.client.app, base_url="https://testserver") as client:
        page = client.get("/ui/sign-in")
        answer = client.post(
            "/ui/sign-in",
            data={"csrf_token": csrf_of(page.text), "token": token, "next": ""},
            follow_redirects=False,
        )
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE))
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


def test_an_unknown_token_gets_no_session(web: WebClient) -> None:
    answer = web.sign_in("not-a-token")
    assert answer.status_code == 401
    assert "not known or was revoked" in answer.text
    assert COOKIE not in answer.headers.get("set-cookie", "")


def test_sign_in_without_its_csrf_value_is_refused(web: WebClient) -> None:
    token = web.person("OAK-sendco-1", "sendco")
    answer = web.client.post(
        "/ui/sign-in", data={"csrf_token": "guess", "token": token}, follow_redirects=False
    )
    assert answer.status_code == 403
    assert COOKIE not in answer.headers.get("set-cookie", "")


def test_a_post_without_the_csrf_token_writes_nothing(web: WebClient) -> None:
    pupil = web.add_pupil()
    web.as_("OAK-sendco-1", "sendco")
    form = web.client.get(f"/ui/pupils/{pupil.id}/entries/concerns")
    for token in ("", "forged", None):
        data = concern(pupil.version, token or "")
        if token is None:
            del data["csrf_token"]
        answer = web.client.post(f"/ui/pupils/{pupil.id}/entries/concerns", data=data)
        assert answer.status_code == 403, answer.text
        assert "security token" in answer.text
    assert web.records.get_pupil(pupil.id).version == pupil.version
    # and with it, the same form saves
    ok = web.client.post(
        f"/ui/pupils/{pupil.id}/entries/concerns",
        data=concern(pupil.version, csrf_of(form.text)),
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert web.records.get_pupil(pupil.id).version == pupil.version + 1


def test_a_concern_is_saved_and_shown_with_both_dates(web: WebClient) -> None:
    pupil = web.add_pupil()
    web.as_("OAK-sendco-1", "sendco")
    form = web.client.get(f"/ui/pupils/{pupil.id}/entries/concerns")
    saved = web.client.post(
        f"/ui/pupils/{pupil.id}/entries/concerns", data=concern(pupil.version, csrf_of(form.text))
    )
    assert saved.status_code == 200
    assert "Saved: raise a concern" in saved.text
    seq = pupil.version + 1
    entry = saved.text.split(f'id="entry-{seq}"', 1)[1].split("</article>", 1)[0]
    assert "Struggles to copy from the board" in entry
    assert "15 Jan 2025" in entry  # happened
    today = datetime.now(UTC).date()
    assert f"{today.day} {today:%b %Y}" in entry  # recorded
    assert "back-dated" in entry
    assert "OAK-sendco-1 (SENDCo)" in entry
    assert web.records.get_pupil(pupil.id).version == seq


def test_a_plan_is_reviewed_by_choosing_it_from_the_pupils_open_plans(web: WebClient) -> None:
    pupil = a_pupil(academy="OAK")
    plan_id = agree(pupil, date(2025, 2, 10))
    web.records.save(pupil)
    web.as_("OAK-sendco-1", "sendco")
    form = web.client.get(f"/ui/pupils/{pupil.id}/entries/plan-reviews")
    assert form.status_code == 200
    select = form.text.split('name="plan_id"', 1)[1].split("</select>", 1)[0]
    assert f'<option value="{plan_id}"' in select and "agreed 10 Feb 2025" in select
    saved = web.client.post(
        f"/ui/pupils/{pupil.id}/entries/plan-reviews",
        data={
            "csrf_token": csrf_of(form.text),
            "version": str(pupil.version),
            "plan_id": str(plan_id),
            "outcomes.0.target": "Blends CVC words",
            "outcomes.0.outcome": "achieved",
            "outcomes.1.target": "Follows two-part instructions",
            "outcomes.1.outcome": "partly",
            "pupil_voice": "I like the word games",
            "parent_voice": "Reading at home more",
            "next_steps": "Move on to CCVC words",
            "happened_on": "2025-04-01",
            "next_review_on": "2025-07-01",
        },
    )
    assert saved.status_code == 200, saved.text
    assert web.records.get_pupil(pupil.id).version == pupil.version + 1


def test_the_register_shows_and_logs_a_page_at_a_time(web: WebClient) -> None:
    pupils = [a_pupil(academy="OAK") for _ in range(REGISTER_PAGE + 5)]
    web.records.save(*pupils)
    web.as_("OAK-sendco-1", "sendco")
    first = web.client.get("/ui/register?sort=status")
    assert first.status_code == 200
    assert first.text.count('<th scope="row">') == REGISTER_PAGE
    assert f"Pupils 1 to {REGISTER_PAGE} of {REGISTER_PAGE + 5}." in first.text
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    read = [p for p in pupils if access_records(web.records, p.id)]
    assert len(read) == REGISTER_PAGE  # only the pupils shown are recorded as read
    second = web.client.get(f"/ui/register?sort=status&start={REGISTER_PAGE}")
    assert second.text.count('<th scope="row">') == 5 and 'rel="prev"' in second.text
    assert all(access_records(web.records, p.id) for p in pupils)


def test_a_teacher_raises_a_concern(web: WebClient) -> None:
    pupil = web.add_pupil()
    web.as_("OAK-teacher-1", "teacher")
    form = web.client.get(f"/ui/pupils/{pupil.id}/entries/concerns")
    saved = web.client.post(
        f"/ui/pupils/{pupil.id}/entries/concerns", data=concern(pupil.version, csrf_of(form.text))
    )
    assert saved.status_code == 200
    assert f"Saved: raise a concern (entry {pupil.version + 1})" in saved.text
    assert web.records.get_pupil(pupil.id).version == pupil.version + 1


def test_validation_messages_sit_next_to_their_fields(web: WebClient) -> None:
    pupil = web.add_pupil()
    web.as_("OAK-sendco-1", "sendco")
    form = web.client.get(f"/ui/pupils/{pupil.id}/entries/concerns")
    data = concern(pupil.version, csrf_of(form.text), description="", happened_on="31/01/2025")
    data["source"] = "neighbour"
    answer = web.client.post(f"/ui/pupils/{pupil.id}/entries/concerns", data=data)
    assert answer.status_code == 422
    html = answer.text
    assert 'id="f-description-error"' in html
    assert re.search(r'id="f-description-error">.*This is required', html)
    assert re.search(r'id="f-happened-on-error">.*year-month-day', html)
    assert re.search(r'id="f-source-error">.*Choose one of the options', html)
    assert 'aria-describedby="f-description-error"' in html
    assert "Please correct 3 problems" in html
    # what was typed is kept
    assert 'value="31/01/2025"' in html
    assert web.records.get_pupil(pupil.id).version == pupil.version


def test_the_domain_refusal_is_shown_on_the_form(web: WebClient) -> None:
    pupil = web.add_pupil()
    web.as_("OAK-sendco-1", "sendco")
    form = web.client.get(f"/ui/pupils/{pupil.id}/entries/concerns")
    future = concern(pupil.version, csrf_of(form.text), happened_on="2999-01-01")
    answer = web.client.post(f"/ui/pupils/{pupil.id}/entries/concerns", data=future)
    assert answer.status_code == 422
    assert "Not saved" in answer.text
    assert web.records.get_pupil(pupil.id).version == pupil.version


def test_a_stale_version_is_refused_with_a_clear_message(web: WebClient) -> None:
    pupil = web.add_pupil()
    web.as_("OAK-sendco-1", "sendco")
    form = web.client.get(f"/ui/pupils/{pupil.id}/entries/concerns")
    csrf = csrf_of(form.text)
    first = web.client.post(
        f"/ui/pupils/{pupil.id}/entries/concerns", data=concern(pupil.version, csrf)
    )
    assert first.status_code == 200
    stale = web.client.post(
        f"/ui/pupils/{pupil.id}/entries/concerns",
        data=concern(pupil.version, csrf, description="Second thoughts"),
    )
    assert stale.status_code == 409
    assert "Someone else added to this pupil" in stale.text
    assert "nothing was saved" in stale.text
    assert f'name="version" value="{pupil.version + 1}"' in stale.text
    assert web.records.get_pupil(pupil.id).version == pupil.version + 1


def test_a_pupil_elsewhere_is_not_found_like_a_missing_one(web: WebClient) -> None:
    elsewhere = web.add_pupil("RIV")
    web.as_("OAK-sendco-1", "sendco")
    for pupil_id in (elsewhere.id, uuid4()):
        for path in ("", "/entries/concerns"):
            answer = web.client.get(f"/ui/pupils/{pupil_id}{path}")
            assert answer.status_code == 404, path
            assert f"There is no pupil with id {pupil_id} among the academies" in answer.text


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("teacher", "/ui/deadlines"),
        ("teacher", "/ui/pupils/{pupil}/entries/register-status"),
        ("teacher", "/ui/pupils/{pupil}/export"),
        ("auditor", "/ui/pupils/{pupil}/export"),
        ("teacher", "/ui/pupils/{pupil}/access-log"),
        ("teacher", "/ui/safeguarding"),
        ("sendco", "/ui/retention"),
        ("sendco", "/ui/pupils/{pupil}/access-log"),
        ("dsl", "/ui/retention"),
        ("auditor", "/ui/register"),
        ("trust_admin", "/ui/pupils/{pupil}"),
    ],
)
def test_roles_are_refused_pages_the_api_refuses_them(web: WebClient, role: str, path: str) -> None:
    pupil = web.add_pupil()
    academies = ("OAK",) if role == "teacher" else ()
    web.as_(f"someone-{role}", role, academies)
    answer = web.client.get(path.format(pupil=pupil.id))
    assert answer.status_code == 403
    assert f"A {role} may not use" in answer.text


def test_a_sendco_may_export_a_pupil_of_their_academy(web: WebClient) -> None:
    pupil = web.add_pupil()
    web.as_("OAK-sendco-1", "sendco", ("OAK",))
    form = web.client.get(f"/ui/pupils/{pupil.id}/export")
    assert form.status_code == 200
    assert "Purpose" in form.text
    fields = {
        "csrf_token": csrf_of(form.text),
        "purpose": "send_tribunal_appeal",
        "recipient": "First-tier Tribunal (SEND)",
        "legal_basis": "UK GDPR 6(1)(c)",
    }
    as_json = web.client.post(f"/ui/pupils/{pupil.id}/export", data=fields)
    assert as_json.status_code == 200 and as_json.headers["content-type"].startswith(
        "application/json"
    )
    assert as_json.json()["pupil"] == str(pupil.id)
    as_html = web.client.post(f"/ui/pupils/{pupil.id}/export", data={**fields, "format": "html"})
    assert as_html.status_code == 200 and as_html.headers["content-type"].startswith("text/html")
    assert as_html.headers["x-export-digest"] in as_html.text  # the page names its bundle
    assert 'filename="chronicle-export-' in as_html.headers["content-disposition"]
    assert as_html.headers["content-disposition"].endswith('.html"')


def test_every_page_follows_a_row_of_the_api_table() -> None:
    assert missing_rows() == []
    for command in COMMANDS:
        assert command.use_case in USE_CASES
    for page in PAGES:
        for role in Role:
            assert page_access(page, role) is access(page, role)


def test_a_teacher_never_sees_a_safeguarding_note(web: WebClient) -> None:
    pupil = web.add_pupil(safeguarding=True)
    web.as_("OAK-teacher-1", "teacher")
    page = web.client.get(f"/ui/pupils/{pupil.id}")
    assert page.status_code == 200
    assert SAFEGUARDING_NOTE not in page.text
    assert "CP-00042" not in page.text
    assert "Safeguarding cross referenced" not in page.text
    web.as_("OAK-dsl-1", "dsl")
    page = web.client.get(f"/ui/pupils/{pupil.id}")
    assert SAFEGUARDING_NOTE in page.text


def test_every_read_is_recorded_as_the_api_records_it(web: WebClient) -> None:
    pupil = web.add_pupil()
    web.as_("OAK-sendco-1", "sendco")
    web.client.get("/ui/register")
    web.client.get(f"/ui/pupils/{pupil.id}?kind=ConcernRaised")
    seen = [
        (r["recorded_by"]["staff_id"], r["what"]) for r in access_records(web.records, pupil.id)
    ]
    assert seen == [
        ("OAK-sendco-1", "register"),
        ("OAK-sendco-1", "chronology?kind=ConcernRaised"),
    ]
    web.as_("OAK-dsl-1", "dsl")
    log = web.client.get(f"/ui/pupils/{pupil.id}/access-log")
    assert log.status_code == 200
    assert "chronology?kind=ConcernRaised" in log.text
    assert len(access_records(web.records, pupil.id)) == 2  # reading the log is not logged


def test_a_dpo_states_a_purpose_before_reading(web: WebClient) -> None:
    pupil = web.add_pupil()
    web.as_("TRUST-dpo-1", "dpo", ())
    ask = web.client.get(f"/ui/pupils/{pupil.id}")
    assert ask.status_code == 200
    assert 'name="purpose"' in ask.text and pupil.legal_family_name not in ask.text
    assert access_records(web.records, pupil.id) == []
    page = web.client.get(f"/ui/pupils/{pupil.id}?purpose=SAR-2025-014")
    assert pupil.legal_family_name in page.text
    assert {r["purpose"] for r in access_records(web.records, pupil.id)} == {"SAR-2025-014"}


def test_the_register_filters_and_counts(web: WebClient) -> None:
    web.add_pupil()
    web.add_pupil()
    web.add_pupil("RIV")
    web.as_("OAK-sendco-1", "sendco")
    page = web.client.get("/ui/register")
    assert "2 pupils in OAK" in page.text
    assert page.text.count('href="/ui/pupils/') == 2
    none = web.client.get("/ui/register?status=ehcp")
    assert none.text.count('href="/ui/pupils/') == 0
    bad = web.client.get("/ui/register?status=sideways")
    assert bad.status_code == 422


def test_a_revoked_token_ends_its_session(web: WebClient) -> None:
    web.as_("OAK-sendco-1", "sendco")
    assert web.client.get("/ui/register").status_code == 200
    web.users.revoke("OAK-sendco-1", datetime.now(UTC))
    assert web.client.get("/ui/register", follow_redirects=False).status_code == 303


class _Inputs(HTMLParser):
    """Visible inputs and the ids labels point at."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[str] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.inputs.append(a.get("id") or f"<{tag} name={a.get('name')}> without id")
        if tag == "label" and a.get("for"):
            self.labelled.add(a["for"] or "")


@pytest.mark.parametrize("command", COMMANDS, ids=[c.slug for c in COMMANDS])
def test_every_command_has_a_form_with_a_label_on_every_field(
    web: WebClient, command: object
) -> None:
    from api.app.catalogue import Command

    assert isinstance(command, Command)
    pupil = web.add_pupil()
    role = next((r for r in Role if page_access(command.use_case, r) is not Access.DENIED), None)
    assert role is not None, f"no role may use {command.use_case}"
    web.as_(f"someone-{role.value}", role, ("OAK",))
    form = web.client.get(f"/ui/pupils/{pupil.id}/entries/{command.slug}")
    assert form.status_code == 200, form.text
    parser = _Inputs()
    parser.feed(form.text)
    assert parser.inputs, "the form has no inputs"
    unlabelled = [i for i in parser.inputs if i not in parser.labelled]
    assert unlabelled == []
    # an empty submission is refused with messages, never a 500, and writes nothing
    empty = web.client.post(
        f"/ui/pupils/{pupil.id}/entries/{command.slug}",
        data={"csrf_token": csrf_of(form.text), "version": str(pupil.version)},
    )
    assert empty.status_code in (303, 200, 422), empty.text
    if empty.status_code == 422:
        assert "Please correct" in empty.text or "Not saved" in empty.text


def test_after_a_purge_the_pupil_page_says_purged(web: WebClient, tmp_path: Path) -> None:
    pupil = web.add_pupil()
    retention = web.client.app.state.chronicle._parts.retention  # type: ignore[attr-defined]
    web.as_("TRUST-dpo-1", "dpo", ())
    page = web.client.get(f"/ui/retention/{pupil.id}")
    propose = web.client.post(
        f"/ui/retention/{pupil.id}/propose",
        data={"csrf_token": csrf_of(page.text), "override": "pupil records moved to LA"},
    )
    assert propose.status_code == 200 and "Purge proposed" in propose.text
    assert "a second person" in propose.text
    own = web.client.post(
        f"/ui/retention/{pupil.id}/approve", data={"csrf_token": csrf_of(propose.text)}
    )
    assert own.status_code == 422
    assert "cannot approve it" in own.text
    web.as_("TRUST-dpo-2", "dpo", ())
    page = web.client.get(f"/ui/retention/{pupil.id}")
    done = web.client.post(
        f"/ui/retention/{pupil.id}/approve", data={"csrf_token": csrf_of(page.text)}
    )
    assert done.status_code == 200 and "Purged" in done.text
    gone = web.client.get(f"/ui/pupils/{pupil.id}?purpose=check")
    assert gone.status_code == 410
    assert "records were purged" in gone.text
    assert retention.purge_records()[0].record["approved_by"] == "TRUST-dpo-2"


def test_the_retention_pages_show_both_periods_and_which_governs(web: WebClient) -> None:
    pupil = web.add_pupil()
    web.as_("TRUST-dpo-1", "dpo", ())
    page = web.client.get(f"/ui/retention/{pupil.id}")
    assert page.status_code == 200
    assert "SEN file due" in page.text and "Child protection due" in page.text
    assert "does not apply: no restricted entries" in page.text
    assert "the SEN file&#39;s period governs" in page.text or "SEN file's period governs" in (
        page.text
    )
    schedule = web.client.get("/ui/retention")
    assert schedule.status_code == 200
    for heading in ("SEN file due", "Child protection due", "Governed by"):
        assert heading in schedule.text, heading


def test_a_plan_with_nested_outcomes_is_agreed_and_shown_to_a_teacher(web: WebClient) -> None:
    pupil = web.add_pupil()
    web.as_("OAK-sendco-1", "sendco")
    form = web.client.get(f"/ui/pupils/{pupil.id}/entries/plans")
    assert 'name="outcomes.2.target"' in form.text  # three rows offered
    data = {
        "csrf_token": csrf_of(form.text),
        "version": str(pupil.version),
        "kind": "individual_plan",
        "outcomes.0.target": "Reads a page of a book aloud",
        "outcomes.0.measure": "Running record, 95 % accuracy",
        "outcomes.0.by_when": "2025-07-18",
        "outcomes.1.target": "",
        "provision": "Daily precision teaching, 10 minutes",
        "agreed_by": ["parent", "teacher"],
        "happened_on": "2025-01-20",
    }
    bad = web.client.post(
        f"/ui/pupils/{pupil.id}/entries/plans",
        data={**data, "outcomes.0.by_when": ""},
    )
    assert bad.status_code == 422
    assert 'id="f-outcomes-0-by-when-error"' in bad.text
    saved = web.client.post(f"/ui/pupils/{pupil.id}/entries/plans", data=data)
    assert saved.status_code == 200, saved.text
    assert web.records.get_pupil(pupil.id).version == pupil.version + 1
    web.as_("OAK-teacher-1", "teacher")
    page = web.client.get(f"/ui/pupils/{pupil.id}").text
    plans = page.split('id="plans-heading"', 1)[1].split("</section>", 1)[0]
    assert "Reads a page of a book aloud" in plans
    assert "Daily precision teaching, 10 minutes" in plans


def test_a_correction_is_shown_with_what_it_corrects(web: WebClient) -> None:
    pupil = web.add_pupil()
    web.as_("OAK-sendco-1", "sendco")
    form = web.client.get(f"/ui/pupils/{pupil.id}/entries/corrections")
    saved = web.client.post(
        f"/ui/pupils/{pupil.id}/entries/corrections",
        data={
            "csrf_token": csrf_of(form.text),
            "version": str(pupil.version),
            "corrects_seq": "2",
            "what_was_wrong": "The date of the observation",
            "correction": "It happened a week earlier",
            "reason": "Misread the class diary",
        },
    )
    assert saved.status_code == 200, saved.text
    corrected = saved.text.split('<li id="entry-2">', 1)[1]
    heading = corrected.index("Corrections to this entry")
    assert heading < corrected.index('<li id="entry-3">') < corrected.index("Misread the class")
    assert saved.text.count("Misread the class diary") == 1  # not again on its own


def test_an_imported_entry_shows_as_imported_with_its_provenance(web: WebClient) -> None:
    from domain.values import HistoryKind, Provenance
    from tests.factories import on

    pupil = a_pupil(academy="OAK")
    pupil.import_history_entry(
        kind=HistoryKind.REVIEW,
        title="Spring term provision review",
        details="Phonics group continues.",
        imported_from=Provenance("Provision Map", "PM-88213", "J. Okafor", "14/03/2024 15:42"),
        **on(date(2024, 3, 14)),
    )
    web.records.save(pupil)
    web.as_("OAK-sendco-1", "sendco")
    page = web.client.get(f"/ui/pupils/{pupil.id}")
    assert page.status_code == 200, page.text
    assert '<span class="badge">imported</span>' in page.text
    assert "<dt>Imported by</dt>" in page.text
    assert "Provision Map, record PM-88213, written by J. Okafor (14/03/2024 15:42)" in page.text
    assert "Spring term provision review" in page.text
