"""The web interface under test: a TestClient on both stores, and for the browser tests a
live uvicorn server on SQLite with a demo trust, driven by Debian's Chromium (Playwright).

Under CI (CI=true) the browser tests fail, never skip, when Chromium or Playwright is
missing; elsewhere they skip with the reason.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import socket
import tarfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from api.academies import Academies
from api.application import PupilRecords
from api.bootstrap import assemble, build_ledger
from api.demo import generate
from api.http import create_app
from api.users import Users
from crypto.kek import InMemoryKekRing
from domain.pupil import Pupil
from domain.values import DslDecision, Role
from tests.factories import DEFAULT, DSL, a_pupil, on

REPO = Path(__file__).resolve().parents[2]
ARTEFACTS = REPO / "test-artefacts"
SCREENSHOTS = ARTEFACTS / "screenshots"
CHROMIUM = Path(os.environ.get("CHRONICLE_TEST_CHROMIUM", "/usr/bin/chromium"))
SAFEGUARDING_NOTE = "Brief note: see CPOMS, referral by Mrs Pettigrew-Ormsby"

# axe-core from the npm registry, pinned by version and integrity (sha512 of the tarball).
AXE_VERSION = "4.14.1"
AXE_URL = f"https://registry.npmjs.org/axe-core/-/axe-core-{AXE_VERSION}.tgz"
AXE_SHA512 = (
    "1477dafa598d8d065f273d6af302aa203c02e83131707b7fa648cd41bd3d6b73"
    "4f8c22a0dab86ee6a6f64b8afbe804b214d36db85a2826965edfb3a0b9d546b5"
)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


# The trust's academies the tests name (api/academies.py: every code must be listed).
ACADEMIES = {
    "OAK": "Oakfield Primary Academy",
    "ELM": "Elmwood Academy",
    "RIV": "Riverside Academy",
    "HTH": "Heathfield Primary Academy",
    "MDW": "Meadowbank Junior Academy",
    "ASH": "Ashgrove Academy",
}


def list_academies(records: PupilRecords) -> None:
    """List the academies the tests use in this store's academy table."""
    listed = Academies(records.datastore.engine)
    for code, name in ACADEMIES.items():
        if listed.get(code) is None:
            listed.add(code, name, datetime.now(UTC))


def csrf_of(html: str) -> str:
    return _csrf(html)


@dataclass
class WebClient:
    """The app under test over one store, and people to sign in as."""

    client: TestClient
    records: PupilRecords
    users: Users
    tokens: dict[str, str] = field(default_factory=dict)

    def person(self, name: str, role: Role | str, academies: tuple[str, ...] = ("OAK",)) -> str:
        _, token = self.users.add(name, role, list(academies), datetime.now(UTC))
        self.tokens[name] = token
        return token

    def sign_in(self, token: str) -> Any:
        self.client.cookies.clear()
        page = self.client.get("/ui/sign-in")
        return self.client.post(
            "/ui/sign-in",
            data={"csrf_token": _csrf(page.text), "token": token, "next": ""},
            follow_redirects=False,
        )

    def as_(self, name: str, role: Role | str, academies: tuple[str, ...] = ("OAK",)) -> None:
        answer = self.sign_in(self.person(name, role, academies))
        assert answer.status_code == 303, answer.text

    def add_pupil(self, academy: str = "OAK", *, safeguarding: bool = False) -> Pupil:
        return add_pupil(self.records, academy, safeguarding=safeguarding)


def add_pupil(records: PupilRecords, academy: str = "OAK", *, safeguarding: bool = False) -> Pupil:
    pupil = a_pupil(academy=academy)
    if safeguarding:
        pupil.cross_reference_safeguarding(
            policy=DEFAULT,
            cpoms_log_id="CP-00042",
            note=SAFEGUARDING_NOTE,
            dsl_decision=DslDecision.EARLY_HELP,
            decided_by="OAK-dsl-1",
            **on(date(2025, 2, 1), DSL),
        )
    records.save(pupil)
    return pupil


@pytest.fixture
def web(records: PupilRecords, tmp_path: Path) -> Iterator[WebClient]:
    list_academies(records)
    key = Ed25519PrivateKey.generate()
    ledger = build_ledger(records, key, None)
    users = Users(records.datastore.engine)
    journal = tmp_path / "purges.jsonl"
    app = create_app(assemble(records, ledger, users=users, signing_key=key, purge_journal=journal))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield WebClient(client, records, users)


# ----- the live server and the browser ------------------------------------------------


@dataclass
class Live:
    url: str
    records: PupilRecords
    tokens: dict[str, str]
    public_key: str
    oak_pupil: UUID  # an OAK pupil of the demo
    safeguarded: UUID  # an OAK pupil with a safeguarding cross-reference
    purgeable: UUID  # an OAK pupil left alone for the purge test


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The app served by uvicorn on a free loopback port, over a SQLite demo trust."""
    import uvicorn

    home = tmp_path_factory.mktemp("live")
    records = PupilRecords(
        database_url=f"sqlite:///{home / 'chronicle.db'}", ring=InMemoryKekRing()
    )
    generate(records, pupils=12)  # lists the demo trust's academies
    list_academies(records)
    safeguarded = add_pupil(records, "OAK", safeguarding=True).id
    purgeable = add_pupil(records, "OAK").id
    signing_key = Ed25519PrivateKey.generate()
    (home / "ledger").mkdir()
    ledger = build_ledger(records, signing_key, home / "ledger" / "checkpoints.jsonl")
    users = Users(records.datastore.engine)
    now = datetime.now(UTC)
    people = {
        "OAK-sendco-9": ("sendco", ["OAK"]),
        "OAK-teacher-9": ("teacher", ["OAK"]),
        "TRUST-dsl-9": ("dsl", []),
        "TRUST-dpo-8": ("dpo", []),
        "TRUST-dpo-9": ("dpo", []),
        "TRUST-tribunal-9": ("tribunal", []),
    }
    tokens = {
        name: users.add(name, role, academies, now)[1] for name, (role, academies) in people.items()
    }
    journal = home / "ledger" / "purges.jsonl"
    chronicle = assemble(
        records, ledger, users=users, signing_key=signing_key, purge_journal=journal
    )
    app = create_app(chronicle, follow_ledger=True)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web server did not start")
        time.sleep(0.05)
    oak = next(
        e.pupil_id
        for e in records.registrations()
        if e.payload.get("academy") == "OAK" and e.pupil_id not in (safeguarded, purgeable)
    )
    try:
        yield Live(
            f"http://127.0.0.1:{port}",
            records,
            tokens,
            ledger.public_key or "",
            oak,
            safeguarded,
            purgeable,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        records.close()


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, launched through Playwright (whose own download is not used)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def axe_source(tmp_path_factory: pytest.TempPathFactory) -> str:
    """axe.min.js, fetched once from the npm registry (pinned, integrity-checked) and cached
    under test-artefacts/cache/ (git-ignored)."""
    cache = ARTEFACTS / "cache" / f"axe-{AXE_VERSION}.min.js"
    if cache.exists():
        return cache.read_text()
    with urllib.request.urlopen(AXE_URL, timeout=60) as answer:
        tarball = answer.read()
    digest = hashlib.sha512(tarball).hexdigest()
    assert digest == AXE_SHA512, f"axe-core {AXE_VERSION} tarball has sha512 {digest}"
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        member = tar.extractfile("package/axe.min.js")
        assert member is not None
        source = member.read().decode()
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(source)
    return source
