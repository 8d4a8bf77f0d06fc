"""What the routes work with: the records, the ledger, the users and the idempotency store."""

from __future__ import annotations

from dataclasses import dataclass

from api.application import PupilRecords
from api.http.idempotency import IdempotencyStore
from api.users import Users
from projections.ledger import Ledger
from projections.runner import ProjectionRunner


@dataclass
class Service:
    records: PupilRecords
    ledger: Ledger
    users: Users
    idempotency: IdempotencyStore
    runner: ProjectionRunner

    def catch_up(self) -> None:
        """Bring the read models up to date, so a read sees every write made before it."""
        self.runner.catch_up()
