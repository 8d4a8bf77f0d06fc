"""The application over this test's store, with the academies the import tests name."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.academies import Academies
from api.app.service import Chronicle
from api.application import PupilRecords
from api.bootstrap import assemble, build_ledger

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def app(records: PupilRecords, tmp_path: Path) -> Chronicle:
    academies = Academies(records.datastore.engine)
    academies.add("OAK", "Oakfield Primary Academy", NOW, dfe_number="873/2041")
    academies.add("ELM", "Elmwood Academy", NOW, urn="138291")
    key = Ed25519PrivateKey.generate()
    ledger = build_ledger(records, key, None)
    return assemble(records, ledger, signing_key=key, purge_journal=tmp_path / "p.jsonl")
