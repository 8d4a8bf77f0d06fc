"""The app for uvicorn's worker processes: `uvicorn.run("api.http.asgi:app", factory=True,
workers=N)` (what `chronicle serve --workers N` runs; docs/operations.md).

Each worker process calls `app()` once: it opens the installation from the settings (the
environment, as the parent had it) and serves the API and the web over it. Every worker
tries for the follower lease (api/leader.py), so exactly one of them runs the ledger and
projection followers; it closes its installation when it stops.
"""

from __future__ import annotations

import gc

from fastapi import FastAPI

from api.bootstrap import open_chronicle
from api.http.app import create_app
from api.settings import load_settings


def app() -> FastAPI:
    """The API and the web over the installation named by the settings, following the
    ledger if this worker holds the lease."""
    chronicle = open_chronicle(load_settings())
    try:
        served = create_app(chronicle, follow_ledger=True, close_on_shutdown=True)
    except BaseException:
        chronicle.close()
        raise
    # As in a single-process `chronicle serve`: long-lived objects made at start-up are
    # never garbage, so full collections need not walk them (docs/performance.md).
    gc.freeze()
    return served
