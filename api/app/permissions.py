"""Who may use which use case (docs/permissions.md, whose table the tests compare with this).

Keyed by use case, never by URL: the HTTP routes, the web pages and the CLI verbs each map
onto these names, so an edge cannot grant what the application does not. A use case that
touches a pupil with `ACADEMY` access serves only pupils of the caller's academies (judged
by the pupil's *current* academy); any other pupil is reported as not found, the same answer
as for a pupil that does not exist.
"""

from __future__ import annotations

from api.app.caller import A, Access, D, S
from api.app.catalogue import COMMANDS
from domain.values import Role

__all__ = ["PURPOSE_REQUIRED", "QUERIES", "ROLE_ORDER", "USE_CASES", "Access", "access"]
ROLE_ORDER = (
    Role.SENDCO, Role.TEACHER, Role.DSL, Role.DPO, Role.TRIBUNAL, Role.TRUST_ADMIN, Role.AUDITOR,
)  # fmt: skip

_QUERIES: dict[str, tuple[Access, ...]] = {
    #                                sendco teacher dsl dpo trib admin auditor
    "list_pupils":                  (S, S, S, S, S, D, D),
    "read_pupil":                   (S, S, S, S, S, D, D),
    "read_chronology":              (S, S, S, S, S, D, D),
    "read_access_log":              (D, D, S, S, D, D, D),
    "list_access_log":              (D, D, S, S, D, D, D),
    "read_checkpoint":              (A, D, D, A, A, A, A),
    "list_deadlines":               (S, D, D, D, D, D, D),
    "list_cross_references":        (D, D, S, D, D, D, D),
    "list_awaiting_decision":       (D, D, S, D, D, D, D),
    "read_retention_schedule":      (D, D, D, A, D, A, D),
    "read_purge_records":           (D, D, D, A, D, A, A),
    "read_pupil_retention":         (D, D, D, S, D, S, D),
    "read_sign_in_audit":           (D, D, D, A, D, A, D),
}  # fmt: skip

_COMMANDS: dict[str, tuple[Access, ...]] = {
    #                                sendco teacher dsl dpo trib admin auditor
    "register_pupil":               (S, D, D, D, D, D, D),
    "import_pupils":                (S, D, D, D, D, A, D),
    "import_history":               (S, D, D, D, D, A, D),
    "export":                       (S, D, S, S, S, D, D),
    "propose_purge":                (D, D, D, S, D, D, D),
    "approve_purge":                (D, D, D, S, D, S, D),
    "subject_access_export":        (D, D, D, S, D, D, D),
    # Entries on the record: each row of the command catalogue names its own cells.
    **{command.use_case: command.access for command in COMMANDS},
}  # fmt: skip

# The use cases that read (every other one changes something).
QUERIES = frozenset(_QUERIES)

USE_CASES: dict[str, dict[Role, Access]] = {
    name: dict(zip(ROLE_ORDER, cells, strict=True))
    for name, cells in {**_QUERIES, **_COMMANDS}.items()
}

# Roles that must say why they read pupil content (X-Purpose header, form field or option).
PURPOSE_REQUIRED = frozenset({Role.DPO, Role.TRIBUNAL})


def access(use_case: str, role: Role) -> Access:
    """What `role` may do in `use_case`; an unknown use case is denied."""
    return USE_CASES.get(use_case, {}).get(role, Access.DENIED)
