"""The web interface: server-rendered pages on the API's app (docs/web.md).

`install(app, chronicle)` adds the pages under `/` and `/ui/...`; the JSON API, `/docs` and
`/openapi.json` are untouched. Pages call the same use cases as the API's routes; the web
never calls HTTP code. Sign-in exchanges a personal token (the API's) for a server-side
session (api/web/sessions.py); every form POST carries the session's CSRF token.
"""

from __future__ import annotations

import jinja2
from fastapi import FastAPI

from api.app.service import Chronicle
from api.web import account, imports, oversight, pupils
from api.web.core import TEMPLATES, Web
from api.web.filters import install_filters
from api.web.sessions import Sessions


def install(app: FastAPI, chronicle: Chronicle) -> Web:
    """Add the web pages to `app`."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    install_filters(env)
    web = Web(chronicle, Sessions(chronicle.engine), env)
    app.include_router(account.router(web))
    app.include_router(pupils.router(web))
    app.include_router(oversight.router(web))
    app.include_router(imports.router(web))
    return web
