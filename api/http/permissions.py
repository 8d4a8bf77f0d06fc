"""Which use case each HTTP route is (docs/permissions.md shows both columns).

Who may do what is the application's table (`api.app.permissions`, keyed by use case);
this maps the routes onto it, so the API cannot grant what the application does not.
`PERMISSIONS` (endpoint -> role -> access) is derived, for the tests that compare it with
the documented table.
"""

from __future__ import annotations

from api.app.caller import Access
from api.app.catalogue import COMMANDS
from api.app.permissions import USE_CASES
from domain.values import Role

ROUTES: dict[str, str] = {
    "GET /pupils": "list_pupils",
    "POST /pupils": "register_pupil",
    "POST /imports/pupils": "import_pupils",
    "POST /imports/history": "import_history",
    "GET /pupils/{pupil_id}": "read_pupil",
    "GET /pupils/{pupil_id}/chronology": "read_chronology",
    "GET /pupils/{pupil_id}/access-log": "read_access_log",
    "GET /access-log": "list_access_log",
    "GET /ledger/checkpoint": "read_checkpoint",
    "GET /ledger/consistency": "read_checkpoint",
    **{f"POST {command.path}": command.use_case for command in COMMANDS},
    "GET /register": "list_pupils",
    "GET /deadlines": "list_deadlines",
    "GET /safeguarding/cross-references": "list_cross_references",
    "GET /safeguarding/awaiting-decision": "list_awaiting_decision",
    "POST /pupils/{pupil_id}/exports": "export",
    "POST /pupils/{pupil_id}/exports/html": "export",
    "GET /retention/schedule": "read_retention_schedule",
    "GET /retention/purges": "read_purge_records",
    "GET /pupils/{pupil_id}/retention": "read_pupil_retention",
    "POST /pupils/{pupil_id}/purge-proposal": "propose_purge",
    "POST /pupils/{pupil_id}/purge-approval": "approve_purge",
    "POST /pupils/{pupil_id}/subject-access-exports": "subject_access_export",
    "GET /sign-in-audit": "read_sign_in_audit",
}

PERMISSIONS: dict[str, dict[Role, Access]] = {
    endpoint: USE_CASES[use_case] for endpoint, use_case in ROUTES.items()
}


def access(endpoint: str, role: Role) -> Access:
    """What `role` may do at `endpoint` ("METHOD /path/{param}"); unknown endpoints: denied."""
    return PERMISSIONS.get(endpoint, {}).get(role, Access.DENIED)
