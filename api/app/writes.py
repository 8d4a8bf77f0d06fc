"""Entries on a pupil's record: one handler for every command of the catalogue.

A write authorises the caller for the entry's use case and the pupil's current academy,
loads the pupil, refuses a stale version (409, nothing written), runs the domain command
(its refusal is the rule's own message), then saves the new events, the idempotency record
and, for the DPO's entries, the retention audit row in one transaction: all or nothing.
A retry with the same idempotency key gets the first answer and writes nothing new.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy.exc
from eventsourcing.persistence import PersistenceError
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.academies import Academies
from api.app.bodies import RegisterPupil, TransferWithinTrust
from api.app.caller import Caller
from api.app.catalogue import BY_SLUG, Command, Context
from api.app.core import Parts, UseCases
from api.app.errors import AppError, busy, forbidden, stale
from api.app.idempotency import Stored, request_hash
from api.application import ConflictingUpdate
from api.retention import audit_row
from api.upn_index import UpnIndex
from domain.pupil import Pupil


@dataclass(frozen=True)
class Saved:
    """What a write did: the pupil, the version it is now at and the new entry's number."""

    pupil_id: UUID
    version: int
    seq: int
    type: str
    replayed: bool = False  # the first answer to a retried request

    def as_json(self) -> dict[str, Any]:
        return {
            "pupil_id": str(self.pupil_id),
            "version": self.version,
            "seq": self.seq,
            "type": self.type,
        }


class Entries(UseCases):
    """Adding to pupils' records."""

    def command(self, slug: str) -> Command:
        found = BY_SLUG.get(slug)
        if found is None:
            raise AppError(404, "no_such_entry", f"there is no kind of entry called {slug!r}")
        return found

    def add(
        self,
        caller: Caller,
        slug: str,
        pupil_id: UUID,
        body: BaseModel,
        based_on: int | None,
        key: str | None = None,
    ) -> Saved:
        """Add the entry `slug` (a row of the catalogue) to the pupil's record. `based_on`
        is the version the caller read (None: the command line, which writes at the head)."""
        command = self.command(slug)
        allowed = self.allow(caller, command.use_case)
        if not isinstance(body, command.body):
            raise TypeError(f"{slug} takes a {command.body.__name__}")
        if isinstance(body, TransferWithinTrust):
            _listed(self._parts, body.to_academy)
        write = _Write(self._parts, caller, f"/pupils/{pupil_id}/{slug}", body, based_on, key)
        replayed = write.replay()
        if replayed is not None:
            return replayed
        pupil = self.pupil_in_scope(caller, pupil_id, allowed)
        if based_on is not None and pupil.version != based_on:
            # The same request with the same key may have been saved since replay() looked
            # (a client retrying while its first attempt was in flight): it moved the pupil
            # on, and it gets that answer, not a 409 for its own write. The key's record
            # commits with the events, so a version we see here implies a record we see.
            replayed = write.replay()
            if replayed is not None:
                return replayed
            raise stale(pupil_id, based_on, pupil.version)
        self._check_decider(command, body)
        command.apply(pupil, body, Context(self.policy, caller.recorder, self.now()))
        return write.save(pupil, command.audit)

    def _check_decider(self, command: Command, body: BaseModel) -> None:
        """A `decided_by` (or another field naming a person) names a current user of a role
        the catalogue row declares."""
        for field_name, roles in command.named_users():
            name = getattr(body, field_name, None)
            if not name:
                continue
            user = self._parts.users.named(name)
            if user is not None and user.role in roles and user.revoked_at is None:
                continue
            wanted = " or ".join(sorted(r.value for r in roles))
            if user is None:
                what = "no user"
            elif user.role not in roles:
                what = f"a {user.role.value}, not a {wanted}"
            else:
                what = "a revoked user"
            raise AppError(
                422,
                "invalid_entry",
                f"{field_name} {name!r} must be the staff id of a current {wanted} user "
                f"(it is {what}): name "
                + (f"the {wanted} who decided" if field_name == "decided_by" else "that person"),
            )

    def register(self, caller: Caller, body: RegisterPupil, key: str | None = None) -> Saved:
        """Open a pupil's record at one of the caller's academies."""
        self.allow(caller, "register_pupil")
        _listed(self._parts, body.academy)
        if not caller.covers(body.academy):
            raise forbidden(
                f"you may register pupils only at your academies ({caller.scope_text()}), "
                f"not {body.academy!r}"
            )
        write = _Write(self._parts, caller, "/pupils", body, None, key)
        replayed = write.replay()
        if replayed is not None:
            return replayed
        upns = UpnIndex.of(self._parts.records)
        if upns.holder(body.upn) is not None:
            raise upn_taken()
        now = self.now()
        pupil = Pupil.register(
            pupil_id=uuid4(),
            upn=body.upn,
            legal_given_names=body.legal_given_names,
            legal_family_name=body.legal_family_name,
            preferred_name=body.preferred_name,
            date_of_birth=body.date_of_birth,
            academy=body.academy,
            year_group=body.year_group,
            recorded_by=caller.recorder,
            happened_on=body.happened_on or now.date(),
            recorded_at=now,
        )
        try:
            return write.save(
                pupil, None, claim=lambda session: upns.claim(session, [(body.upn, pupil.id)])
            )
        except AppError:
            if upns.holder(body.upn) not in (None, pupil.id):
                raise upn_taken() from None  # a concurrent registration of the UPN won
            raise


def upn_taken() -> AppError:
    """409: the UPN is a pupil's already (who, and where, is not said: the caller may not
    cover that pupil's academy)."""
    return AppError(
        409,
        "upn_taken",
        "a pupil with this UPN is already on the trust's records (a UPN is unique within the "
        "trust); nothing was saved: if the pupil moved academy, record a transfer instead",
    )


def _listed(parts: Parts, academy: str) -> None:
    """Refuse (422) an academy the trust does not list, naming those it does; with none
    listed at all, refuse every academy (fail closed)."""
    refused = Academies(parts.records.datastore.engine).refusal(academy)
    if refused is not None:
        raise AppError(422, "unknown_academy", refused)


class _Write:
    """One write: who, the request's identity for its idempotency key, and the save."""

    def __init__(
        self,
        parts: Parts,
        caller: Caller,
        path: str,
        body: BaseModel,
        based_on: int | None,
        key: str | None,
    ) -> None:
        self.parts, self.caller = parts, caller
        self.key = key if caller.user_id is not None else None
        self.hash = request_hash(
            "POST", path, None if based_on is None else str(based_on), body.model_dump(mode="json")
        )

    def replay(self) -> Saved | None:
        """The first answer to this key, or None if the key is new; 422 on a different body."""
        if self.key is None or self.caller.user_id is None:
            return None
        stored = self.parts.idempotency.find(self.caller.user_id, self.key)
        return None if stored is None else self._answer(stored)

    def _answer(self, stored: Stored) -> Saved:
        if stored.request_hash != self.hash:
            raise AppError(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was already used for a different request: use a new "
                "key for a new request, and the same key only to retry the same request",
            )
        b = stored.body
        return Saved(UUID(b["pupil_id"]), b["version"], b["seq"], b["type"], replayed=True)

    def save(
        self, pupil: Pupil, audit: str | None, claim: Callable[[Session], None] | None = None
    ) -> Saved:
        """Save the pupil's new events with the idempotency record and the audit row (and,
        for a registration, its `claim` of the UPN, made first: a lost race fails it)."""
        records = self.parts.records
        kind = type(pupil.pending_events[-1]).__name__
        saved = Saved(pupil.id, pupil.version, pupil.version, kind)
        base = pupil.version - len(pupil.pending_events)  # save() empties pending_events
        # The write is the caller's: their next read waits for it, nobody else's does.
        mine = self.parts.written.writes_of(records, self.caller.user_id)
        try:
            with mine, records.datastore.transaction(True) as session:
                if claim is not None:
                    claim(session)
                records.save(pupil)
                now = records.clock()
                if self.key is not None and self.caller.user_id is not None:
                    self.parts.idempotency.remember(
                        session, self.caller.user_id, self.key, self.hash, 201, saved.as_json(), now
                    )
                if audit is not None:
                    audit_row(
                        session, now, audit, pupil.id, self.caller.recorder, "done",
                        f"entry {saved.seq} ({kind})",
                    )  # fmt: skip
        except (ConflictingUpdate, PersistenceError, sqlalchemy.exc.SQLAlchemyError) as e:
            explained = self._explain_failed_save(pupil.id, base)
            if isinstance(explained, Saved):
                return explained  # a concurrent request with the same key won: its answer
            raise explained from e
        return saved

    def _explain_failed_save(self, pupil_id: UUID, base: int) -> Saved | Exception:
        """A save that failed at the store: a lost race for the key, or for the version."""
        if self.key is not None and self.caller.user_id is not None:
            stored = self.parts.idempotency.find(self.caller.user_id, self.key)
            if stored is not None:
                return self._answer(stored)
        head = self.parts.records.recorder.select_events(pupil_id, desc=True, limit=1)
        current = head[0].originator_version if head else None
        if current != (base or None):
            return stale(pupil_id, base, current)
        return busy(
            "store_unavailable",
            "the record could not be saved just now; nothing was saved: retry (with the same "
            "Idempotency-Key)",
        )
