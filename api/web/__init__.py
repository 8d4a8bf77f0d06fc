"""The web interface: server-rendered pages on the API's app (docs/web.md).

`install(app, service)` adds the pages under `/` and `/ui/...`; the JSON API, `/docs` and
`/openapi.json` are untouched. Sign-in exchanges a personal token (the API's) for a
server-side session (api/web/sessions.py); every form POST carries the session's CSRF token.
"""

from __future__ import annotations

import jinja2
from fastapi import FastAPI

from api.http.service import Service
from api.retention import Retention
from api.web import account, oversight, pupils
from api.web.core import TEMPLATES, Web
from api.web.filters import install_filters
from api.web.sessions import Sessions


def install(app: FastAPI, service: Service, retention: Retention | None = None) -> Web:
    """Add the web pages to `app`. Without `retention` (nor `app.state.retention`), the DPO
    pages purge through the installation's own purge journal, or say they cannot."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    install_filters(env)
    if retention is not None:
        app.state.retention = retention
    web = Web(service, Sessions(), env, app.state)
    app.include_router(account.router(web))
    app.include_router(pupils.router(web))
    app.include_router(oversight.router(web))
    return web
