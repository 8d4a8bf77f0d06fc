"""The app factory: the HTTP API and the web pages over one `Chronicle` (nothing at import)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.app.service import Chronicle
from api.http import (
    commands,
    docs,
    errors,
    exports,
    imports,
    ledger,
    pupils,
    reads,
    retention,
    signins,
)
from api.http.hardening import Hardening, Limits
from api.leader import FollowerLease
from api.settings import load_settings
from api.web import install as install_web

DESCRIPTION = """\
The SEND records of the trust's pupils. Authenticate with your personal token
(`Authorization: Bearer ...`). Writes state the pupil version they were based on
(`If-Match`) and may carry an `Idempotency-Key`. Every read of pupil content is recorded
in the pupil's access log. See docs/api.md and docs/permissions.md.
"""


def create_app(
    chronicle: Chronicle,
    *,
    follow_ledger: bool = False,
    follow_interval: float = 0.05,
    limits: Limits | None = None,
    close_on_shutdown: bool = False,
) -> FastAPI:
    """The API and the web pages over `chronicle`; with `follow_ledger`, a ledger follower
    keeps checkpoints current and a projection follower the read models while the app runs
    (started and stopped with it), in one process of all those serving the installation:
    the one holding the follower lease (api/leader.py; on SQLite, this one). `limits`
    (request sizes) default to the settings' (CHRONICLE_MAX_BODY_BYTES, …). With
    `close_on_shutdown` the app closes `chronicle` when it stops (a worker process that
    opened its own, api/http/asgi.py)."""

    settings = load_settings()

    def start_followers() -> Callable[[], None]:
        sign_every = settings.checkpoint_every_ms / 1000
        projections = chronicle.projection_follower(follow_interval).start()
        # Integrating more often than it signs would only split the work into more
        # transactions: under load every poll finds new access records.
        ledger_follower = chronicle.ledger_follower(
            max(follow_interval, sign_every), sign_every=sign_every
        )
        ledger_follower.start()

        def stop() -> None:
            projections.stop()
            ledger_follower.stop()

        return stop

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        lease = FollowerLease(chronicle.engine, start_followers).start() if follow_ledger else None
        app.state.follower_lease = lease
        try:
            yield
        finally:
            if lease is not None:
                lease.stop()
            if close_on_shutdown:
                chronicle.close()

    app = FastAPI(
        title="Chronicle",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        # /docs is served from this server's own copy of Swagger UI (api/http/docs.py).
        docs_url=None,
        redoc_url=None,
    )
    app.state.chronicle = chronicle
    # Bounded input, security headers on every answer, one log line for an unexpected
    # error (api/http/hardening.py): the outermost of the app's own middleware.
    app.add_middleware(Hardening, limits=limits or Limits.from_settings(settings))
    errors.install(app)
    docs.install(app)
    app.include_router(pupils.router)
    app.include_router(commands.router)
    app.include_router(ledger.router)
    app.include_router(reads.router)
    app.include_router(exports.router)
    app.include_router(retention.router)
    app.include_router(signins.router)
    app.include_router(imports.router)
    # The web interface (docs/web.md): pages under / and /ui/, the same use cases.
    app.state.web = install_web(app, chronicle)
    return app
