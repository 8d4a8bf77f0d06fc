"""The web interface in a real browser (Debian's Chromium through Playwright), on a live
uvicorn server over a SQLite demo trust. Every page visited is checked with axe-core
(WCAG 2.1 A and AA rules) and saved as a screenshot under test-artefacts/screenshots/."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app.access import access_records
from api.app.caller import Access
from api.app.catalogue import COMMANDS
from tests.web.conftest import SAFEGUARDING_NOTE, SCREENSHOTS, Live

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


class Browser:
    """One person's browser tab, checking every page it lands on."""

    def __init__(self, page: Any, live: Live, axe: str) -> None:
        self.page, self.live, self.axe = page, live, axe

    def go(self, path: str) -> None:
        self.page.goto(self.live.url + path)

    def check(self, name: str | None = None) -> None:
        """axe-core finds no WCAG A/AA violation on this page; save a screenshot."""
        self.page.add_script_tag(content=self.axe)
        result = self.page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
        )
        problems = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"]
        ]
        assert problems == [], f"accessibility problems on {self.page.url}:\n" + "\n".join(problems)
        if name is not None:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def sign_in(self, who: str) -> None:
        self.go("/ui/sign-in")
        self.check("sign-in")
        self.page.get_by_label("Personal token").fill(self.live.tokens[who])
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state()
        assert "/ui/sign-in" not in self.page.url, self.page.content()

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()
        self.page.wait_for_url("**/ui/sign-in")


@pytest.fixture
def tab(chromium: Any, live: Live, axe_source: str) -> Iterator[Browser]:
    # bypass_csp: axe is injected into pages whose policy allows only our own scripts.
    context = chromium.new_context(bypass_csp=True, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield Browser(page, live, axe_source)
    finally:
        context.close()


def test_a_sendco_finds_a_pupil_and_adds_a_concern(tab: Browser, live: Live) -> None:
    tab.sign_in("OAK-sendco-9")
    page = tab.page
    page.wait_for_url("**/ui/register")
    tab.check("register")
    page.get_by_label("Status", exact=True).select_option("")
    page.get_by_role("button", name="Show").click()
    links = page.locator(f'a[href="/ui/pupils/{live.oak_pupil}"]')
    name = links.first.inner_text()
    links.first.click()
    page.wait_for_url(f"**/ui/pupils/{live.oak_pupil}")
    assert page.get_by_role("heading", level=1).inner_text() == name
    tab.check("pupil-timeline")
    page.get_by_role("link", name="Raise a concern").click()
    tab.check("entry-form-concern")
    page.get_by_role("button", name="Save").click()  # empty: messages next to fields
    assert page.locator("#f-description-error").inner_text().endswith("This is required.")
    assert page.locator("#f-source-error").is_visible()
    tab.check("entry-form-errors")
    page.get_by_label("Source", exact=True).select_option("parent")
    page.get_by_label("Area of need (optional)").select_option("sensory_and_physical")
    page.get_by_label("Description", exact=True).fill(
        "Covers ears in the dining hall; leaves early"
    )
    page.get_by_label("Happened on (optional)").fill("2026-10-05")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"**/ui/pupils/{live.oak_pupil}#entry-*")
    assert "Saved: raise a concern" in page.get_by_role("status").inner_text()
    seq = page.url.rsplit("#entry-", 1)[1]
    entry = page.locator(f"#entry-{seq}")
    text = entry.inner_text()
    assert "Covers ears in the dining hall" in text
    assert "Happened\n5 Oct 2026" in text or "Happened 5 Oct 2026" in text.replace("\n", " ")
    assert "Recorded" in text and "UTC" in text and "back-dated" in text
    assert "OAK-sendco-9 (SENDCo)" in text
    tab.check("pupil-after-concern")
    page.goto(f"{live.url}/ui/deadlines")
    tab.check("deadlines")


def test_a_teacher_cannot_see_a_safeguarding_note(tab: Browser, live: Live) -> None:
    tab.sign_in("OAK-teacher-9")
    tab.go(f"/ui/pupils/{live.safeguarded}")
    body = tab.page.locator("main").inner_text()
    assert "Current plans, targets and strategies" in body
    assert SAFEGUARDING_NOTE not in tab.page.content()
    assert "CP-00042" not in tab.page.content()
    tab.check("teacher-pupil")
    tab.go("/ui/safeguarding")
    assert "Not available to your role" in tab.page.locator("h1").inner_text()
    tab.check("refused")


def test_a_dsl_sees_the_cross_reference_audit(tab: Browser, live: Live) -> None:
    tab.sign_in("TRUST-dsl-9")
    tab.page.wait_for_url("**/ui/safeguarding")
    table = tab.page.get_by_role("table").last.inner_text()
    assert "CP-00042" in table
    assert "Early help" in table
    tab.check("safeguarding-audit")
    tab.go(f"/ui/pupils/{live.safeguarded}")
    assert SAFEGUARDING_NOTE in tab.page.content()
    tab.page.get_by_role("link", name="Who viewed this record").click()
    log = tab.page.get_by_role("table").inner_text()
    assert "TRUST-dsl-9" in log and "chronology" in log
    tab.check("access-log")


def test_two_dpos_purge_a_pupil(tab: Browser, live: Live) -> None:
    page = tab.page
    tab.sign_in("TRUST-dpo-8")
    page.wait_for_url("**/ui/retention")
    tab.check("retention")
    tab.go(f"/ui/retention/{live.purgeable}")
    page.get_by_label("Reason for purging before the due date", exact=False).fill(
        "Records transferred to the local authority; early purge agreed"
    )
    page.get_by_role("button", name="Propose purge").click()
    assert "a second person must approve it" in page.get_by_role("status").inner_text()
    assert page.get_by_role("button", name="Approve and purge").count() == 0
    tab.check("retention-proposed")
    tab.sign_out()
    tab.sign_in("TRUST-dpo-9")
    tab.go("/ui/retention")
    page.get_by_role("link", name=str(live.purgeable)).first.click()
    page.get_by_role("button", name="Approve and purge").click()
    assert "Purged" in page.get_by_role("status").inner_text()
    tab.check("retention-purged")
    tab.go(f"/ui/pupils/{live.purgeable}?purpose=check")
    assert "purged" in page.locator("main").inner_text()
    assert page.get_by_role("heading", level=1).inner_text() == "Records purged"
    tab.check("pupil-purged")


def test_an_export_downloads_and_verifies(tab: Browser, live: Live, tmp_path: Path) -> None:
    tab.sign_in("TRUST-tribunal-9")
    tab.go(f"/ui/pupils/{live.oak_pupil}")
    tab.check("purpose-asked")
    tab.page.get_by_label("Purpose of this read").fill("Tribunal case EH-2026-031")
    tab.page.get_by_role("button", name="Continue").click()
    tab.page.get_by_role("link", name="Export a verifiable bundle").click()
    tab.check("export-form")
    tab.page.get_by_label("Purpose of the disclosure").select_option("send_tribunal_appeal")
    tab.page.get_by_label("Recipient").fill("First-tier Tribunal (SEND)")
    tab.page.get_by_label("Lawful basis").fill("UK GDPR 6(1)(c)")
    with tab.page.expect_download() as download:
        tab.page.get_by_role("button", name="Export and download").click()
    target = tmp_path / "bundle.json"
    download.value.save_as(target)
    bundle = json.loads(target.read_text())
    assert bundle["pupil"] == str(live.oak_pupil)
    assert bundle["purpose"] == "send_tribunal_appeal"
    reads = access_records(live.records, live.oak_pupil)
    assert any(
        r["what"].startswith("export ") and r["purpose"] == "send_tribunal_appeal" for r in reads
    )
    chronicle = shutil.which("chronicle") or str(Path(sys.executable).with_name("chronicle"))
    verified = subprocess.run(
        [chronicle, "verify", str(target), "--public-key", live.public_key],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    bundle["events"][1]["payload"]["description"] = "tampered"
    target.write_text(json.dumps(bundle))
    tampered = subprocess.run(
        [chronicle, "verify", str(target), "--public-key", live.public_key],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tampered.returncode == 1


def test_keyboard_zoom_and_focus(tab: Browser, live: Live) -> None:
    page = tab.page
    tab.go("/ui/sign-in")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Chronicle"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "token"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    page.keyboard.type(live.tokens["OAK-sendco-9"])
    page.keyboard.press("Enter")
    page.wait_for_url("**/ui/register")
    # 200 % zoom of a 1280-pixel window: the layout is 640 CSS pixels wide, and nothing
    # but wide tables (which scroll inside themselves) may need sideways scrolling.
    page.set_viewport_size({"width": 640, "height": 800})
    for path in ("/ui/register", f"/ui/pupils/{live.oak_pupil}", "/ui/deadlines"):
        tab.go(path)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 640, f"{path} is {wide}px wide at 200 % zoom"
    tab.check("pupil-at-200-percent")


def test_every_entry_form_and_the_account_page_pass_the_accessibility_check(
    tab: Browser, live: Live
) -> None:
    """The forms generated from the command table (nested groups, lists, choices) and the
    account page, each checked with axe-core like every page the flows above visit."""
    # Each form as someone who may add that entry: the SENDCo's, then the DPO's.
    for person, role in (("OAK-sendco-9", Access.ACADEMY), ("TRUST-dpo-9", None)):
        if role is None:
            tab.sign_out()
        tab.sign_in(person)
        for command in COMMANDS:
            sendco_may = command.access[0] is Access.ACADEMY
            if sendco_may != (role is Access.ACADEMY):
                continue
            tab.go(f"/ui/pupils/{live.oak_pupil}/entries/{command.slug}")
            heading = tab.page.get_by_role("heading", level=1).inner_text()
            assert heading.startswith(command.title), (person, command.slug, heading)
            tab.check(f"entry-form-{command.slug}" if command.slug == "plans" else None)
    tab.go("/ui/account")
    tab.check("account")


def test_the_api_docs_render_with_nothing_leaving_this_server(chromium: Any, live: Live) -> None:
    """Swagger UI at /docs, in a browser that may reach only the server itself: every request
    the page makes goes to the live server's origin, none fails, and the operations render
    (a closed network sees the same page). No CSP bypass: the page runs under its own."""
    context = chromium.new_context()
    page = context.new_page()
    elsewhere: list[str] = []
    failed: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(live.url):
            r.continue_()
        else:  # the network beyond this server is unreachable
            elsewhere.append(r.request.url)
            r.abort()

    try:
        page.route("**/*", route)
        page.on("requestfailed", lambda request: failed.append(request.url))
        page.goto(live.url + "/docs")
        page.wait_for_selector(".opblock-summary", timeout=20_000)
        operations = page.locator(".opblock-summary").count()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "api-docs.png"))
    finally:
        context.close()
    assert elsewhere == [], elsewhere
    assert failed == [], failed
    assert operations > 40  # every route of the API is listed
