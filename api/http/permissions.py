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
    "GET /access-log":                          (D, D, S, S, D, D, D),
    "GET /ledger/checkpoint":                   (A, D, D, A, A, A, A),
    "GET /ledger/consistency":                  (A, D, D, A, A, A, A),
    # Entries (api/http/commands.py): the SENDCo records; the DSL adds and corrects
    # safeguarding cross-references and records a leaver's files going; a DPO records
    # corrections (rectification requests).
    "POST /pupils/{pupil_id}/needs":                          (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/need-withdrawals":               (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/corrections":                    (S, D, S, S, D, D, D),
    "POST /pupils/{pupil_id}/plans":                          (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/plan-reviews":                   (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/agencies":                       (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/advice":                         (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/ehc-assessment-requests":        (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/la-information-requests":        (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/ehc-plans":                      (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/annual-reviews":                 (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/annual-review-meetings":         (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/annual-review-reports":          (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/ehc-plan-amendments":            (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/ehc-plan-cessations":            (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/safeguarding-cross-references":  (S, D, S, D, D, D, D),
    "POST /pupils/{pupil_id}/parental-agreements":            (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/exam-access-arrangements":       (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/transitions":                    (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/transfers":                      (S, D, D, D, D, D, D),
    "POST /pupils/{pupil_id}/departures":                     (S, D, S, D, D, D, D),
    # Read models (api/http/reads.py) and exports (api/http/exports.py).
    "GET /register":                                          (S, S, S, S, S, D, D),
    "GET /deadlines":                                         (S, D, D, D, D, D, D),
    "GET /safeguarding/cross-references":                     (D, D, S, D, D, D, D),
    "GET /safeguarding/awaiting-decision":                    (D, D, S, D, D, D, D),
    "POST /pupils/{pupil_id}/exports":                        (S, D, D, S, S, D, D),
    "POST /pupils/{pupil_id}/exports/html":                   (S, D, D, S, S, D, D),
    # Retention and data-protection rights (api/http/retention.py): the DPO's; a trust
    # admin may approve a purge (the second person) and read the schedule and the signed
    # purge records; the auditor may read the purge records (no pupil content in them).
    "GET /retention/schedule":                                (D, D, D, A, D, A, D),
    "GET /retention/purges":                                  (D, D, D, A, D, A, A),
    "GET /pupils/{pupil_id}/retention":                       (D, D, D, S, D, S, D),
    "POST /pupils/{pupil_id}/legal-holds":                    (D, D, D, S, D, D, D),
    "POST /pupils/{pupil_id}/legal-holds/release":            (D, D, D, S, D, D, D),
    "POST /pupils/{pupil_id}/purge-proposal":                 (D, D, D, S, D, D, D),
    "POST /pupils/{pupil_id}/purge-approval":                 (D, D, D, S, D, S, D),
    "POST /pupils/{pupil_id}/subject-access-requests":        (D, D, D, S, D, D, D),
    "POST /pupils/{pupil_id}/subject-access-exports":         (D, D, D, S, D, D, D),
    "POST /pupils/{pupil_id}/erasure-refusals":               (D, D, D, S, D, D, D),
}  # fmt: skip

PERMISSIONS: dict[str, dict[Role, Access]] = {
    endpoint: dict(zip(_ORDER, cells, strict=True)) for endpoint, cells in _TABLE.items()
}

# Roles that must say why they read pupil content (X-Purpose header or `purpose` query).
PURPOSE_REQUIRED = frozenset({Role.DPO, Role.TRIBUNAL})


def access(endpoint: str, role: Role) -> Access:
    """What `role` may do at `endpoint` ("METHOD /path/{param}"); unknown endpoints: denied."""
    return PERMISSIONS.get(endpoint, {}).get(role, Access.DENIED)
