"""Who may use which web page (docs/web.md): each page is the application use case whose
answer it shows (`api.app.permissions`), so a page can never grant what the API refuses."""

from __future__ import annotations

from api.app.caller import Access
from api.app.permissions import USE_CASES, access
from domain.values import Role

REGISTER = "list_pupils"
PUPIL = "read_chronology"
ACCESS_LOG = "read_access_log"
DEADLINES = "list_deadlines"
SAFEGUARDING = "list_cross_references"
RETENTION = "read_retention_schedule"
EXPORT = "export"
IMPORT = "import_pupils"
PAGES = (REGISTER, PUPIL, ACCESS_LOG, DEADLINES, SAFEGUARDING, RETENTION, EXPORT, IMPORT)


def page_access(page: str, role: Role) -> Access:
    """What `role` may do on `page` (a use case, or a command's `entry:<slug>`)."""
    return access(page, role)


def missing_rows() -> list[str]:
    """Pages whose use case the application's table does not have (a renamed use case)."""
    return [page for page in PAGES if page not in USE_CASES]
