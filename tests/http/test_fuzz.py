"""Hypothesis-generated requests against every operation of the app's own OpenAPI: no 5xx,
and every refusal is a `Problem` with a detail a person can read."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.http.conftest import Api

STATUSES: list[int] = []
pytestmark = pytest.mark.filterwarnings("ignore")

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.text(max_size=20)
    | st.sampled_from(["2025-01-01", "teacher", "ehcp", "OAK", "A873204120012", "2999-12-31"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _bodies(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Bodies that mostly use the operation's own field names, with any JSON as values."""
    ref = schema.get("$ref", "")
    props = components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
    names = st.sampled_from(sorted(props) or ["x"]) | st.text(max_size=8)
    return st.dictionaries(names, _json, max_size=len(props) + 1) | _json


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_request_gets_a_5xx(fuzzed: Fuzzed, data: st.DataObject) -> None:
    api, sendco, known = fuzzed
    spec = api.client.get("/openapi.json").json()
    components = spec["components"]["schemas"]
    path, ops = data.draw(st.sampled_from(sorted(spec["paths"].items())))
    method, op = data.draw(st.sampled_from(sorted(ops.items())))
    pupil = data.draw(st.sampled_from([known, "not-a-uuid", "0" * 32]))
    url = path.replace("{pupil_id}", pupil)
    params = {
        p["name"]: data.draw(st.text(max_size=12) | st.integers(-5, 10**6).map(str))
        for p in op.get("parameters", [])
        if p["in"] == "query" and data.draw(st.booleans())
    }
    headers = dict(sendco)
    if data.draw(st.booleans()):
        headers["If-Match"] = data.draw(st.sampled_from(["2", '"2"', "x", "-1", "99"]))
    if data.draw(st.booleans()):
        headers["Idempotency-Key"] = data.draw(st.sampled_from(["k1", "k2"]))
    kwargs: dict[str, Any] = {"params": params, "headers": headers}
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    if body:
        kwargs["json"] = data.draw(_bodies(body["schema"], components))
    response = api.client.request(method.upper(), url, **kwargs)
    STATUSES.append(response.status_code)
    assert response.status_code < 500, (method, url, kwargs, response.text)
    if response.status_code >= 400:
        assert response.json()["detail"]
        assert "Traceback" not in response.text


Fuzzed = tuple[Api, dict[str, str], str]


@pytest.fixture
def fuzzed(api: Api) -> Fuzzed:
    """The app, a trust-wide SENDCo's headers and a known pupil, once per store."""
    return api, api.headers("sendco", ()), str(api.add_pupil().id)


def test_zz_the_fuzzing_reached_success_and_refusals() -> None:
    if STATUSES:  # run with the test above (not when selected alone)
        assert any(s < 300 for s in STATUSES) and any(s >= 400 for s in STATUSES)
