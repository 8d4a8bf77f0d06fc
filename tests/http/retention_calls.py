"""Requests to the retention routes (api/http/retention.py), for the permission matrix and
the retention API tests. Each writing call works on a fresh pupil of the given pupil's
academy, made ready for it, so the matrix does not depend on the order of the calls."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import httpx

from api.retention import Retention
from domain.pupil import Pupil
from domain.values import Recorder, Role
from tests.factories import DPO, on
from tests.http.conftest import Api

Call = Callable[[Api, dict[str, str], Pupil], httpx.Response]
OTHER_DPO = Recorder("dpo-proposer", Role.DPO)


def retention(api: Api) -> Retention:
    """The app's retention operations (the test app's purge journal is in tmp_path)."""
    found = api.client.app.state.chronicle._parts.retention  # type: ignore[attr-defined]
    assert isinstance(found, Retention)
    return found


def _fresh(api: Api, p: Pupil) -> Pupil:
    return api.add_pupil(p.academy)


def _post(api: Api, h: dict[str, str], pupil: Pupil, path: str, body: object) -> httpx.Response:
    return api.client.post(
        f"/pupils/{pupil.id}/{path}",
        headers={**h, "If-Match": str(api.version(pupil.id))},
        json=body,
    )


def _hold(api: Api, h: dict[str, str], p: Pupil) -> httpx.Response:
    body = {"reason": "Tribunal appeal pending", "requested_by": "Trust solicitor"}
    return _post(api, h, _fresh(api, p), "legal-holds", body)


def _release(api: Api, h: dict[str, str], p: Pupil) -> httpx.Response:
    pupil = _fresh(api, p)
    loaded = api.records.get_pupil(pupil.id)
    loaded.place_legal_hold(reason="Claim", requested_by="Solicitor", **on(date(2025, 3, 1), DPO))
    api.records.save(loaded)
    return _post(api, h, pupil, "legal-holds/release", {"reason": "Claim settled"})


def _propose(api: Api, h: dict[str, str], p: Pupil) -> httpx.Response:
    retention(api)
    pupil = _fresh(api, p)
    body = {"override": "court order 2026/117"}
    return api.client.post(f"/pupils/{pupil.id}/purge-proposal", headers=h, json=body)


def _approve(api: Api, h: dict[str, str], p: Pupil) -> httpx.Response:
    pupil = _fresh(api, p)
    retention(api).propose(pupil.id, OTHER_DPO, override="court order 2026/117")
    return api.client.post(f"/pupils/{pupil.id}/purge-approval", headers=h)


def _sar(api: Api, h: dict[str, str], p: Pupil) -> httpx.Response:
    body = {"request_reference": "SAR-2026-014", "requester_relationship": "parent"}
    return _post(api, h, _fresh(api, p), "subject-access-requests", body)


def _sar_export(api: Api, h: dict[str, str], p: Pupil) -> httpx.Response:
    pupil = _fresh(api, p)
    loaded = api.records.get_pupil(pupil.id)
    loaded.request_subject_access(
        request_reference="SAR-1", requester_relationship="pupil", **on(date(2025, 3, 1), DPO)
    )
    api.records.save(loaded)
    return api.client.post(f"/pupils/{pupil.id}/subject-access-exports", headers=h, json={})


def _refuse_erasure(api: Api, h: dict[str, str], p: Pupil) -> httpx.Response:
    body = {
        "entry_seq": 2,
        "request_reference": "ER-1",
        "requester_relationship": "parent",
        "reason": "Statutory SEND record",
        "legal_basis": "UK GDPR art. 17(3)(b)",
    }
    return _post(api, h, _fresh(api, p), "erasure-refusals", body)


def _get_purges(api: Api, h: dict[str, str], p: Pupil) -> httpx.Response:
    retention(api)
    return api.client.get("/retention/purges", headers=h)


RETENTION_CALLS: dict[str, Call] = {
    "GET /retention/schedule": lambda api, h, p: api.client.get("/retention/schedule", headers=h),
    "GET /retention/purges": _get_purges,
    "GET /pupils/{pupil_id}/retention": lambda api, h, p: api.client.get(
        f"/pupils/{p.id}/retention", headers=h
    ),
    "POST /pupils/{pupil_id}/legal-holds": _hold,
    "POST /pupils/{pupil_id}/legal-holds/release": _release,
    "POST /pupils/{pupil_id}/purge-proposal": _propose,
    "POST /pupils/{pupil_id}/purge-approval": _approve,
    "POST /pupils/{pupil_id}/subject-access-requests": _sar,
    "POST /pupils/{pupil_id}/subject-access-exports": _sar_export,
    "POST /pupils/{pupil_id}/erasure-refusals": _refuse_erasure,
}
