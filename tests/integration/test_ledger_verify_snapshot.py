"""`ledger verify` beside a live service reports no false problem (issue #14 part 5).

Writers save pupils' entries and a signer integrates and signs checkpoints (into the
database and the journal) while `audit` runs again and again, on SQLite and PostgreSQL:
every run must find nothing wrong. Before verify read one snapshot, runs like these reported leaves
"missing from the store", checkpoints that "cover more entries than the log holds" and
journal checkpoints "missing from the database" — all false.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.application import PupilRecords
from api.bootstrap import build_ledger
from projections.ledger import Ledger
from projections.ledger_audit import audit
from tests.conftest import OpenRecords, Store
from tests.factories import a_pupil, add_concern

RUNS = 30


class Service:
    """Writers and a checkpoint signer, each on its own connections (as a server is)."""

    def __init__(self, records: list[PupilRecords], ledger: Ledger, pause: float = 0.003) -> None:
        self.pause = pause
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.saved = 0
        self.ledger = ledger
        self.threads = [
            threading.Thread(target=self._write, args=(r, n), daemon=True)
            for n, r in enumerate(records)
        ]
        self.threads.append(threading.Thread(target=self._sign, daemon=True))

    def _write(self, records: PupilRecords, n: int) -> None:
        try:
            pupil = a_pupil(f"W{n}", concerns=0)
            records.save(pupil)
            while not self.stop.is_set():
                if self.saved % 7 == n:  # now and then a new pupil, else a later entry
                    pupil = a_pupil(f"W{n}", concerns=1)
                else:
                    add_concern(pupil, "a later entry")
                records.save(pupil)
                self.saved += 1
                time.sleep(self.pause)
        except BaseException as e:  # pragma: no cover - reported by the test
            self.errors.append(e)

    def _sign(self) -> None:
        """What the ledger's follower does: integrate, sign, journal, often (each checkpoint
        costs every later verify a consistency proof, so not at every write)."""
        try:
            while not self.stop.is_set():
                self.ledger.checkpoint()
                time.sleep(0.03)
        except BaseException as e:  # pragma: no cover - reported by the test
            self.errors.append(e)

    def __enter__(self) -> Service:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def service(
    open_records: OpenRecords, records: PupilRecords, key: Ed25519PrivateKey, tmp_path: Path
) -> Iterator[tuple[Service, Ledger]]:
    journal = tmp_path / "checkpoints.jsonl"
    ring = records.data_keys.ring
    writers = [open_records(ring), open_records(ring)]
    signer = open_records(ring)
    for n in range(30):  # enough that each run lasts several of the follower's intervals
        records.save(a_pupil(f"Before{n}", concerns=4))
    build_ledger(signer, key, journal).checkpoint()
    verifier = build_ledger(records, key, journal)
    with Service(writers, build_ledger(signer, key, journal), pause=0.03) as running:
        yield running, verifier
    assert running.errors == []


def test_verify_in_a_loop_beside_writers_reports_nothing_false(
    service: tuple[Service, Ledger], records: PupilRecords
) -> None:
    running, verifier = service
    false: list[str] = []
    moved = 0
    for _ in range(RUNS):
        before = verifier.size(), len(verifier.checkpoints())
        report = audit(verifier, opener=records.sealing_mapper.committed)
        false += [str(p) for p in report.problems]
        moved += (verifier.size(), len(verifier.checkpoints())) != before
    assert false == [], f"{len(false)} false reports in {RUNS} runs: {false[:5]}"
    # The runs really were beside writes: the log and its checkpoints moved during most.
    assert moved >= RUNS // 2, moved
    assert running.saved > RUNS


def test_the_cli_verify_beside_writers_reports_nothing_false(
    store: Store, open_records: OpenRecords, tmp_path: Path
) -> None:
    """`chronicle ledger verify` as an operator runs it, beside a live service on the same
    CHRONICLE_HOME (its writers and follower in this process)."""
    from api.bootstrap import init_home, open_ledger
    from api.bootstrap import open_records as open_home
    from api.settings import Settings

    home = tmp_path / "home"
    db = None if store.kind == "sqlite" else store.url
    settings = Settings(home=home, database_url=db) if db else Settings(home=home)
    init_home(settings)
    writers = [open_home(settings), open_home(settings)]
    signer = open_home(settings)
    try:
        for n in range(3):
            writers[0].save(a_pupil(f"Before{n}", concerns=2))
        with Service(writers, open_ledger(settings, signer), pause=0.02) as running:
            environ = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICLE_")}
            environ |= {"CHRONICLE_HOME": str(home), "COLUMNS": "200"}
            if db:
                environ["CHRONICLE_DATABASE_URL"] = db
            results = [
                subprocess.run(
                    [sys.executable, "-m", "api.cli", "ledger", "verify"],
                    env=environ,
                    capture_output=True,
                    text=True,
                )
                for _ in range(1)
            ]
    finally:
        for r in [*writers, signer]:
            r.close()
    assert running.errors == []
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "problem" not in result.stderr and "The ledger verifies" in result.stdout
