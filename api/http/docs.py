"""/docs: Swagger UI served from this server, never from a CDN.

The assets (swagger-ui-bundle.js, swagger-ui.css, the favicon) come from the pinned
`fastapi-offline` distribution (pyproject.toml), mounted at `/docs/static`; the start-up
script is ours (`/docs/init.js`), so the page needs no inline script and its CSP allows
'self' only. Swagger UI's validator badge (a request to a public validator) is off, and
authorisations are not kept in the browser's storage. There is no /redoc.
"""

from __future__ import annotations

import html

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.responses import Response as StarletteResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

DOCS, ASSETS, INIT = "/docs", "/docs/static", "/docs/init.js"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

INIT_JS = """\
"use strict";
// Chronicle's /docs: Swagger UI over this server's OpenAPI document (api/http/docs.py).
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
"""

PAGE = """\
<!doctype html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<title>{title} — API documentation</title>
<link rel="stylesheet" href="{root}/docs/static/swagger-ui.css">
<link rel="icon" type="image/png" href="{root}/docs/static/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi="{root}{openapi}"></div>
<script src="{root}/docs/static/swagger-ui-bundle.js"></script>
<script src="{root}/docs/init.js"></script>
</body>
</html>
"""


class _Assets(StaticFiles):
    """Swagger UI's files: public, the same for everyone, so they may be cached."""

    async def get_response(self, path: str, scope: Scope) -> StarletteResponse:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=86400"
        return response


def install(app: FastAPI) -> None:
    """Add /docs, its start-up script and its assets to `app` (made with docs_url=None)."""
    app.mount(ASSETS, _Assets(packages=[("fastapi_offline", "static")]), name="docs-static")
    openapi = app.openapi_url or "/openapi.json"

    @app.get(DOCS, include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = html.escape(str(request.scope.get("root_path", "")), quote=True)
        page = PAGE.format(title=html.escape(app.title), root=root, openapi=openapi)
        return HTMLResponse(page, headers={"Content-Security-Policy": DOCS_CSP})

    @app.get(INIT, include_in_schema=False)
    def init() -> Response:
        return Response(
            INIT_JS,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=3600"},
        )
