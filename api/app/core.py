"""What every use case shares: its dependencies, and the checks made in one order.

Each use case takes the caller and, in this order: authorises the use case for the caller's
role (`allow`), then the pupil for the caller's academies judged by the pupil's *current*
academy (`pupil_in_scope`), applies the trust policy's visibility (api/app/visibility.py),
runs, and records the read (`record_views`) or the write's audit in the same transaction as
the write. Nothing here knows about HTTP, pages or terminals.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

from api.app.access import GroupCommit
from api.app.caller import Access, Caller
from api.app.errors import AppError, forbidden
from api.app.idempotency import IdempotencyStore
from api.app.permissions import PURPOSE_REQUIRED, access
from api.app.positions import WrittenBy
from api.application import PupilRecords
from api.retention import Retention
from api.users import Users
from domain.errors import UnknownPupil
from domain.policy import TrustPolicy
from domain.pupil import Pupil
from projections.ledger import Ledger
from projections.register import NameOrder, RegisterReader, ShownName
from projections.runner import ACCESS_LOG, ProjectionRunner


@dataclass
class Parts:
    """The installation's pieces, built once by the composition root (api/bootstrap.py)."""

    records: PupilRecords
    ledger: Ledger
    users: Users
    idempotency: IdempotencyStore
    runner: ProjectionRunner
    # None when the installation has no signing key or purge journal here: purges refused.
    retention: Retention | None = None
    # Access records of readers arriving together, committed in one transaction.
    views: GroupCommit = field(init=False)
    # The register's order by name, as pupil ids (no names): a page decrypts the rows shown.
    name_order: NameOrder = field(init=False, default_factory=NameOrder)
    # Each person's newest write through this process: what their next read waits for.
    written: WrittenBy = field(init=False, default_factory=WrittenBy)

    def __post_init__(self) -> None:
        self.views = GroupCommit(self.records)


class UseCases:
    """A group of use cases over the installation's parts."""

    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    @property
    def policy(self) -> TrustPolicy:
        return self._parts.records.policy

    def now(self) -> datetime:
        return self._parts.records.clock()

    def today(self) -> date:
        return self.now().date()

    # ----- the checks, in order -----------------------------------------------------------

    def allow(self, caller: Caller, use_case: str) -> Access:
        """The caller's access to `use_case`; refused (403) if their role may not use it."""
        allowed = access(use_case, caller.role)
        if allowed is Access.DENIED:
            raise forbidden(
                f"a {caller.role.value} may not {use_case.replace('_', ' ').replace(':', ' ')}"
                " (see docs/permissions.md): ask someone whose role may"
            )
        return allowed

    def pupil_in_scope(self, caller: Caller, pupil_id: UUID, allowed: Access) -> Pupil:
        """The pupil's record, if the caller may reach it; otherwise the same answer as for a
        pupil that does not exist. A purged pupil raises `PupilPurged`."""
        pupil = self._parts.records.get_pupil(pupil_id)
        if allowed is Access.ALLOWED or caller.covers(pupil.academy):
            return pupil
        raise UnknownPupil(pupil_id)

    def check_scope(self, caller: Caller, pupil_id: UUID, allowed: Access) -> None:
        """As `pupil_in_scope`, without rebuilding the record: the pupil's current academy
        is read from the newest event that set it (a trust-wide caller needs only to know
        the pupil exists and is not purged)."""
        records = self._parts.records
        if allowed is Access.ALLOWED or caller.trust_wide:
            records.check_pupil(pupil_id)
            return
        if not caller.covers(records.academy_of(pupil_id)):
            raise UnknownPupil(pupil_id)

    def academies(self, caller: Caller, academy: str | None) -> list[str] | None:
        """The academies a listing reads: [academy], the caller's own, or None (the trust).
        A filter naming an academy the trust does not list is refused (422), as is any
        filter while no academy is listed at all."""
        if academy is not None:
            from api.academies import Academies

            refused = Academies(self._parts.records.datastore.engine).refusal(academy)
            if refused is not None:
                raise AppError(422, "unknown_academy", refused)
            if not caller.covers(academy):
                raise forbidden(
                    f"academy {academy!r} is not one you cover ({caller.scope_text()}); "
                    "leave the academy out to see all yours"
                )
            return [academy]
        return None if caller.trust_wide else sorted(caller.academies)

    def purpose(self, caller: Caller, given: str | None) -> str | None:
        """The reason given for reading pupil content; some roles must give one (400)."""
        stated = (given or "").strip()[:500] or None
        if stated is None and caller.role in PURPOSE_REQUIRED:
            raise AppError(
                400,
                "purpose_required",
                f"a {caller.role.value} must state why they read pupil records (the purpose: "
                "an X-Purpose header or ?purpose=..., the page's purpose field, or --purpose), "
                "e.g. the SAR or tribunal case reference",
            )
        return stated

    def record_views(
        self, caller: Caller, pupil_ids: Iterable[UUID], what: str, purpose: str | None
    ) -> None:
        """One access record per pupil shown, before anything is shown."""
        ids = list(dict.fromkeys(pupil_ids))
        if ids:
            self._parts.views.record(ids, caller.recorder, what, purpose)

    def catch_up(self, caller: Caller | None = None, reads: Collection[str] | None = None) -> None:
        """Make the read models named in `reads` (projection names; None: every one) show
        the caller's own writes before the read, and nothing more need be waited for:

        - a person (a caller with a user id: the API, the web) waits for the position they
          sent back (`caller.seen`: a write's answer on any worker), their newest write
          through this process (`Parts.written`) and the writes this process made for
          nobody in particular (`PupilRecords.unclaimed_to`: the log's head when it
          opened, the demo, imports); never for others' writes;
        - the command line's operator (no user id), and `caller` None, wait for every pupil
          write this process has committed, and for the log's head when it opened: one
          process doing steps in turn, each seeing all before it.

        The access log's read model (`ACCESS_LOG` in `reads`) also waits for every access
        record this process committed: it is a view of everyone's reads. A read whose
        models are there already returns at once, with no query: the projections follow
        the log in the background (`ProjectionFollower`), so a read never waits for models
        it does not read, nor for others' writes or reads."""
        position = self.position(caller)
        if reads is None or ACCESS_LOG in reads:
            position = max(position, self._parts.records.viewed_to)
        self._parts.runner.wait_for(position, reads)

    def position(self, caller: Caller | None = None) -> int:
        """The position a read by `caller` on this process waits for (see `catch_up`; None:
        every pupil write this process committed): sent back with a read on another
        worker, it makes that read show the same writes."""
        records = self._parts.records
        if caller is None:
            return records.written_to
        if caller.user_id is None:
            return max(caller.seen, records.written_to)
        return max(caller.seen, records.unclaimed_to, self._parts.written.newest(caller.user_id))

    @contextmanager
    def writing_for(self, caller: Caller) -> Iterator[None]:
        """Pupil writes committed inside are the caller's own: their next read waits for
        them, nobody else's does (api/app/positions.py)."""
        with self._parts.written.writes_of(self._parts.records, caller.user_id):
            yield

    def register_reader(self) -> RegisterReader:
        return RegisterReader(self._parts.records, self._parts.name_order)

    def names(self, pupil_ids: Sequence[UUID]) -> dict[UUID, ShownName]:
        ids = list(dict.fromkeys(pupil_ids))
        if not ids:
            return {}
        records = self._parts.records
        with records.datastore.transaction(False) as session:
            return RegisterReader(records).names(session, ids)
