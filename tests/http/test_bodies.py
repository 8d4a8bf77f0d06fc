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
