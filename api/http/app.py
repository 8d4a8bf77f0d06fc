"""The app factory: the HTTP API over already-open records and ledger (nothing at import)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.application import PupilRecords
from api.http import commands, errors, exports, ledger, pupils, reads, retention
from api.http.idempotency import IdempotencyStore
from api.http.service import Service
from api.users import Users
from projections.catalogue import build_projections
from projections.ledger import Ledger, LedgerFollower
from projections.runner import ProjectionRunner

DESCRIPTION = """\
The SEND records of the trust's pupils. Authenticate with your personal token
(`Authorization: Bearer ...`). Writes state the pupil version they were based on
(`If-Match`) and may carry an `Idempotency-Key`. Every read of pupil content is recorded
in the pupil's access log. See docs/api.md and docs/permissions.md.
"""


def create_app(
    records: PupilRecords,
    ledger_: Ledger,
    *,
    users: Users | None = None,
    follow_ledger: bool = False,
    follow_interval: float = 0.05,
) -> FastAPI:
    """The API over `records` and `ledger_`; with `follow_ledger`, a `LedgerFollower` keeps
    checkpoints current while the app runs (started and stopped with it)."""
    engine = records.datastore.engine
    service = Service(
        records=records,
        ledger=ledger_,
        users=users or Users(engine),
        idempotency=IdempotencyStore(engine),
        runner=ProjectionRunner(records, build_projections(records.policy)),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        follower = LedgerFollower(ledger_, follow_interval).start() if follow_ledger else None
        try:
            yield
        finally:
            if follower is not None:
                follower.stop()

    app = FastAPI(
        title="Chronicle",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.chronicle = service
    errors.install(app)
    app.include_router(pupils.router)
    app.include_router(commands.router)
    app.include_router(ledger.router)
    app.include_router(reads.router)
    app.include_router(exports.router)
    app.include_router(retention.router)
    # The web interface (docs/web.md): pages under / and /ui/, same service and rules.
    from api import web

    app.state.web = web.install(app, service)
    return app
