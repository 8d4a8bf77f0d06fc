"""Refusals of the application layer: what went wrong and what the person can do.

Every edge turns them into its own answer (an HTTP status and `Problem` body, an error page,
one `error:` line) from the same three facts: a status in HTTP's vocabulary (the kinds of
failure people already know: 400, 403, 404, 409, 422, 503), a short code and a message
written for the person reading it. Domain refusals (`domain.errors`) pass through as they
are; an unknown pupil and a pupil outside the caller's academies are the same `UnknownPupil`
(the answer never confirms that a pupil exists elsewhere in the trust).
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """A request the application refused or could not carry out; nothing was changed."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra


def forbidden(detail: str) -> AppError:
    return AppError(403, "forbidden", detail)


def invalid(detail: str) -> AppError:
    return AppError(422, "invalid_request", detail)


def busy(code: str, detail: str) -> AppError:
    """Try again shortly: nothing was done (a read-model or log behind a write, a race)."""
    return AppError(503, code, detail)


def stale(pupil_id: object, based_on: int, current: int | None) -> AppError:
    return AppError(
        409,
        "conflicting_update",
        f"pupil {pupil_id} was changed by someone else (you worked from version {based_on}, "
        f"it is now at {current}): re-read the record, check your entry still applies, and "
        "send it again with the new version (If-Match on the API); nothing was saved",
        current_version=current,
    )
