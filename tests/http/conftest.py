"""An HTTP API over this test's store (SQLite and PostgreSQL), and people to call it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from api.academies import Academies
from api.application import PupilRecords
from api.bootstrap import assemble, build_ledger
from api.http import create_app
from api.users import Users
from domain.pupil import Pupil
from domain.values import DslDecision, Role
from projections.ledger import Ledger
from tests.factories import DEFAULT, DSL, a_pupil, on

SAFEGUARDING_NOTE = "Brief note: see CPOMS, referral by Mrs Pettigrew-Ormsby"
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
            listed.add(code, name, _now())


@dataclass
class Api:
    """The app under test, its records and ledger, and a way to add people."""

    client: TestClient
    records: PupilRecords
    ledger: Ledger
    users: Users

    def headers(
        self, role: Role | str, academies: tuple[str, ...] = ("OAK",), purpose: str | None = "T-1"
    ) -> dict[str, str]:
        """Headers of a new person in `role` covering `academies` (empty: the whole trust)."""
        n = len(self.users.everyone())
        _, token = self.users.add(f"{Role(role).value}-{n}", role, list(academies), _now())
        found = {"Authorization": f"Bearer {token}"}
        if purpose is not None:
            found["X-Purpose"] = purpose
        return found

    def staff_id(self, headers: dict[str, str]) -> str:
        """The staff id of the person whose headers these are."""
        found = self.users.by_token(headers["Authorization"].removeprefix("Bearer "))
        assert found is not None
        return found.name

    def add_pupil(self, academy: str = "OAK", *, safeguarding: bool = False) -> Pupil:
        """A pupil with one concern (and a safeguarding cross-reference if asked), saved."""
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
        self.records.save(pupil)
        return pupil

    def version(self, pupil_id: UUID) -> int:
        return self.records.get_pupil(pupil_id).version

    def events(self, stream: UUID) -> int:
        return len(self.records.stored_events(stream))


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def api(records: PupilRecords, tmp_path: Path) -> Iterator[Api]:
    list_academies(records)
    key = Ed25519PrivateKey.generate()
    ledger = build_ledger(records, key, None)
    users = Users(records.datastore.engine)
    # The DSL the examples name as having decided (decided_by must be a DSL user's staff id).
    users.add(DSL.staff_id, "dsl", ["OAK"], _now())
    journal = tmp_path / "purges.jsonl"
    app = create_app(assemble(records, ledger, users=users, signing_key=key, purge_journal=journal))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, records, ledger, users)
