"""Every request body shares one base (`api.app.bodies.Body`): NUL refused, unknown fields
refused, every text and list bounded. Checked on the models and through every route that
takes a body, on SQLite and PostgreSQL (where a NUL once reached the database as a 500).
"""

from __future__ import annotations

import typing
from typing import Any

import pytest
from annotated_types import Ge, Le, MaxLen
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api.app import bodies
from api.app.bodies import Body
from tests.http.conftest import Api


def _models() -> list[type[Body]]:
    return [
        m
        for m in vars(bodies).values()
        if isinstance(m, type) and issubclass(m, Body) and m is not Body
    ]


def _routes(api: Api) -> list[tuple[APIRoute, type[BaseModel]]]:
    from api.http import commands, exports, ledger, pupils, reads, retention

    found = []
    every = [m.router.routes for m in (commands, exports, ledger, pupils, reads, retention)]
    for route in (r for routes in every for r in routes):
        if isinstance(route, APIRoute) and route.body_field is not None:
            model = route.body_field.field_info.annotation
            assert isinstance(model, type) and issubclass(model, BaseModel)
            found.append((route, model))
    return found


def _bare(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, __import__("types").UnionType):
        return _bare(args[0]) if len(args) == 1 else annotation
    if typing.get_origin(annotation) is typing.Annotated:
        return _bare(args[0])
    return annotation


def _metadata(info: Any) -> list[Any]:
    found = list(info.metadata)
    annotation = info.annotation
    for arg in typing.get_args(annotation):
        found.extend(getattr(arg, "__metadata__", ()))
    return found


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.__name__)
def test_every_text_list_and_number_is_bounded(model: type[Body]) -> None:
    assert model.model_config.get("extra") == "forbid"
    for name, info in model.model_fields.items():
        tp = _bare(info.annotation)
        meta = _metadata(info)
        if tp is str:
            assert any(isinstance(m, MaxLen) for m in meta), f"{model.__name__}.{name}"
        if typing.get_origin(tp) in (list, tuple):
            assert any(isinstance(m, MaxLen) for m in meta), f"{model.__name__}.{name}"
        if tp is int:
            assert any(isinstance(m, Le) for m in meta), f"{model.__name__}.{name}"
            assert any(isinstance(m, Ge) for m in meta), f"{model.__name__}.{name}"


def test_every_route_body_is_a_body_of_the_application(api: Api) -> None:
    routes = _routes(api)
    assert len(routes) >= 30
    for route, model in routes:
        assert issubclass(model, Body), route.path


def _call(api: Api, route: APIRoute, body: dict[str, Any]) -> Any:
    """POST `body` to `route` on a fresh pupil, as someone whose role may use it."""
    from api.app.caller import Access
    from api.app.permissions import ROLE_ORDER, USE_CASES
    from api.http.permissions import ROUTES

    cells = USE_CASES[ROUTES[f"POST {route.path}"]]
    role = next(r for r in ROLE_ORDER if cells[r] is not Access.DENIED)
    pupil = api.add_pupil()
    path = route.path.replace("{pupil_id}", str(pupil.id))
    headers = {**api.headers(role), "If-Match": str(api.version(pupil.id))}
    return api.client.post(path, headers=headers, json=body)


def test_nul_is_refused_on_every_body(api: Api) -> None:
    routes = _routes(api)
    assert len(routes) >= 30
    for route, _ in routes:
        got = _call(api, route, {"reason": "a\u0000b"})
        assert got.status_code == 422, (route.path, got.text)
        assert "NUL" in got.json()["detail"], route.path


def test_oversize_text_is_refused_on_every_body(api: Api) -> None:
    tried = 0
    for route, model in _routes(api):
        text_fields = [
            (name, m.max_length)
            for name, info in model.model_fields.items()
            if _bare(info.annotation) is str
            for m in _metadata(info)
            if isinstance(m, MaxLen)
        ]
        if not text_fields:
            continue
        name, limit = text_fields[0]
        tried += 1
        got = _call(api, route, {name: "x" * (limit + 1)})
        assert got.status_code == 422, (route.path, got.text)
        assert f"{name}: String should have at most {limit}" in got.json()["detail"], route.path
    assert tried >= 25


def test_an_access_stream_id_is_no_pupil_on_any_route(api: Api) -> None:
    """An access stream's id (uuid5 of a public namespace and the pupil id) is not a pupil:
    404 on every route that takes a pupil id, never a 500 or a sign that the pupil exists."""
    from domain.access import access_stream_id

    pupil = api.add_pupil()
    dpo = api.headers("dpo", ())
    api.client.get(f"/pupils/{pupil.id}/chronology", headers=dpo)  # opens the access stream
    stream = access_stream_id(pupil.id)
    assert api.events(stream) >= 1
    from tests.http.entries import BY_SLUG

    bodies_by_path = {f"/pupils/{{pupil_id}}/{slug}": e.body() for slug, e in BY_SLUG.items()}
    export = {"purpose": "send_tribunal_appeal", "recipient": "FTT", "legal_basis": "reg. 17"}
    bodies_by_path["/pupils/{pupil_id}/exports"] = export
    bodies_by_path["/pupils/{pupil_id}/exports/html"] = export
    schema = api.client.get("/openapi.json").json()
    tried = 0
    for path, operations in schema["paths"].items():
        if "{pupil_id}" not in path:
            continue
        for method in operations:
            for role in ("sendco", "dpo", "dsl", "trust_admin"):
                headers = {**api.headers(role, ()), "If-Match": "1"}
                url = path.replace("{pupil_id}", str(stream))
                body = bodies_by_path.get(path, {})
                got = api.client.request(method.upper(), url, headers=headers, json=body)
                assert got.status_code in (403, 404, 422), (method, path, role, got.text)
                if got.status_code == 422:  # the empty body, refused before any pupil is read
                    assert got.json()["error"] == "invalid_request", (method, path, got.text)
                tried += 1
    assert tried >= 35 * 4
