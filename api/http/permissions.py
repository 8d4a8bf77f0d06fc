"""Who may call which endpoint (docs/permissions.md, whose table the tests compare with this).

`ACADEMY` endpoints touch one pupil (or a list of pupils): the caller must cover the pupil's
current academy, else the pupil is reported as not found (404), so the API never confirms
that a pupil exists elsewhere in the trust.
"""

from __future__ import annotations

from enum import StrEnum

from domain.values import Role


class Access(StrEnum):
    ALLOWED = "allowed"
    ACADEMY = "academy"
    DENIED = "denied"


A, S, D = Access.ALLOWED, Access.ACADEMY, Access.DENIED
_ORDER = (
    Role.SENDCO, Role.TEACHER, Role.DSL, Role.DPO, Role.TRIBUNAL, Role.TRUST_ADMIN, Role.AUDITOR,
)  # fmt: skip

_TABLE: dict[str, tuple[Access, ...]] = {
    #                                          sendco teacher dsl dpo trib admin auditor
    "GET /pupils":                              (S, S, S, S, S, D, D),
    "POST /pupils":                             (S, D, D, D, D, D, D),
    "GET /pupils/{pupil_id}":                   (S, S, S, S, S, D, D),
    "GET /pupils/{pupil_id}/chronology":        (S, S, S, S, S, D, D),
    "POST /pupils/{pupil_id}/concerns":         (S, S, S, D, D, D, D),
    "POST /pupils/{pupil_id}/register-status":  (S, D, D, D, D, D, D),
    "GET /pupils/{pupil_id}/access-log":        (D, D, S, S, D, D, D),
    "GET /ledger/checkpoint":                   (A, D, D, A, A, A, A),
    "GET /ledger/consistency":                  (A, D, D, A, A, A, A),
}  # fmt: skip

PERMISSIONS: dict[str, dict[Role, Access]] = {
    endpoint: dict(zip(_ORDER, cells, strict=True)) for endpoint, cells in _TABLE.items()
}

# Roles that must say why they read pupil content (X-Purpose header or `purpose` query).
PURPOSE_REQUIRED = frozenset({Role.DPO, Role.TRIBUNAL})


def access(endpoint: str, role: Role) -> Access:
    """What `role` may do at `endpoint` ("METHOD /path/{param}"); unknown endpoints: denied."""
    return PERMISSIONS.get(endpoint, {}).get(role, Access.DENIED)
