"""Commands as POSTs: optimistic concurrency (If-Match) and idempotency keys, in one place.

A write loads the pupil, refuses a stale If-Match with 409 (nothing written), runs the
domain command (its refusal is a 422 with the rule's own message), then saves the new
events and the idempotency record in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import sqlalchemy.exc
from eventsourcing.persistence import PersistenceError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.application import ConflictingUpdate
from api.http.auth import Caller
from api.http.errors import ApiError
from api.http.idempotency import Stored, request_hash
from api.http.models import Written
from api.http.service import Service
from domain.pupil import Pupil


class WriteRequest:
    """One POST: who, where, the body, the version it was based on and its idempotency key."""

    def __init__(
        self,
        svc: Service,
        caller: Caller,
        path: str,
        body: BaseModel,
        based_on: int | None,
        key: str | None,
    ) -> None:
        self.svc, self.caller, self.key, self.based_on = svc, caller, key, based_on
        self.hash = request_hash(
            "POST", path, None if based_on is None else str(based_on), body.model_dump(mode="json")
        )

    def replay(self) -> JSONResponse | None:
        """The first answer to this key, or None if the key is new; 422 on a different body."""
        if self.key is None:
            return None
        stored = self.svc.idempotency.find(self.caller.user.user_id, self.key)
        return None if stored is None else self._answer_stored(stored)

    def _answer_stored(self, stored: Stored) -> JSONResponse:
        if stored.request_hash != self.hash:
            raise ApiError(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was already used for a different request: use a new "
                "key for a new request, and the same key only to retry the same request",
            )
        return JSONResponse(
            stored.body, status_code=stored.status, headers={"Idempotent-Replayed": "true"}
        )

    def on_pupil(self, pupil_id: UUID, command: Callable[[Pupil], None]) -> JSONResponse:
        """Apply `command` to the pupil at the stated version and save it."""
        replayed = self.replay()
        if replayed is not None:
            return replayed
        pupil = self.caller.check(self.svc.records.get_pupil(pupil_id))
        if self.based_on is not None and pupil.version != self.based_on:
            # The same request with the same key may have been saved since replay() looked
            # (a client retrying while its first attempt was in flight): it moved the pupil
            # on, and it gets that answer, not a 409 for its own write. The key's record
            # commits with the events, so a version we see here implies a record we see.
            replayed = self.replay()
            if replayed is not None:
                return replayed
            raise _stale(pupil_id, self.based_on, pupil.version)
        command(pupil)
        return self.save(pupil)

    def save(self, pupil: Pupil) -> JSONResponse:
        """Save the pupil's new events with the idempotency record, atomically."""
        records = self.svc.records
        written = Written(
            pupil_id=pupil.id,
            version=pupil.version,
            seq=pupil.version,
            type=type(pupil.pending_events[-1]).__name__,
        )
        body: dict[str, Any] = written.model_dump(mode="json")
        base = pupil.version - len(pupil.pending_events)  # save() empties pending_events
        try:
            with records.datastore.transaction(True) as session:
                records.save(pupil)
                if self.key is not None:
                    self.svc.idempotency.remember(
                        session,
                        self.caller.user.user_id,
                        self.key,
                        self.hash,
                        201,
                        body,
                        records.clock(),
                    )
        except (ConflictingUpdate, PersistenceError, sqlalchemy.exc.SQLAlchemyError) as e:
            raise self._explain_failed_save(pupil.id, base) from e
        return JSONResponse(body, status_code=201, headers={"ETag": f'"{pupil.version}"'})

    def _explain_failed_save(self, pupil_id: UUID, base: int) -> Exception:
        """A save that failed at the store: a lost race for the key, or for the version."""
        if self.key is not None:
            stored = self.svc.idempotency.find(self.caller.user.user_id, self.key)
            if stored is not None:
                return _Replay(self._answer_stored(stored))
        head = self.svc.records.recorder.select_events(pupil_id, desc=True, limit=1)
        current = head[0].originator_version if head else None
        if current != (base or None):
            return _stale(pupil_id, base, current)
        return ApiError(
            503,
            "store_unavailable",
            "the record could not be saved just now; "
            "nothing was saved: retry (with the same Idempotency-Key)",
        )


class _Replay(Exception):
    """A concurrent request with the same key won: answer with its response."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__("replay")
        self.response = response


def run(write: Callable[[], JSONResponse]) -> JSONResponse:
    try:
        return write()
    except _Replay as replay:
        return replay.response


def _stale(pupil_id: UUID, based_on: int, current: int | None) -> ApiError:
    return ApiError(
        409,
        "conflicting_update",
        f"pupil {pupil_id} was changed by someone else (you worked from version {based_on}, "
        f"it is now at {current}): re-read the record, check your entry still applies, and "
        "send it again with the new version in If-Match; nothing was saved",
        current_version=current,
    )
