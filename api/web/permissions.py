"""Who may use which web page (docs/web.md): each page follows the row of the API endpoint
that returns what it shows (`api.http.permissions`), so the two can never disagree."""

from __future__ import annotations

from api.http.permissions import PERMISSIONS, Access, access
from domain.values import Role

REGISTER = "GET /pupils"
PUPIL = "GET /pupils/{pupil_id}/chronology"
ACCESS_LOG = "GET /pupils/{pupil_id}/access-log"
DEADLINES = "GET /deadlines"
SAFEGUARDING = "GET /safeguarding/cross-references"
RETENTION = "GET /retention/schedule"
EXPORT = "POST /pupils/{pupil_id}/exports"
PAGES = (REGISTER, PUPIL, ACCESS_LOG, DEADLINES, SAFEGUARDING, RETENTION, EXPORT)


def page_access(page: str, role: Role) -> Access:
    """What `role` may do on `page`: the API's answer for the endpoint (unknown: denied)."""
    return access(page, role)


def missing_rows() -> list[str]:
    """Pages whose endpoint the API's table does not have (a renamed route)."""
    return [page for page in PAGES if page not in PERMISSIONS]
