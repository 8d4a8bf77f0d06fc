"""Reading pupils' records: every query an edge may make, scoped, masked and logged.

An edge reaches pupil content only through these. Each query authorises the caller, keeps
to the caller's academies (a pupil belongs to their current academy), brings the read
models up to date, applies the trust policy's visibility (api/app/visibility.py) and records
one access record per pupil it shows before returning anything. Listings that show no pupil
content (ids, codes and dates only, or who read what) are not logged: `UNLOGGED` names them
and says why, and a test checks every other query logs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Generic, Literal, Protocol, TypeVar
from urllib.parse import urlencode
from uuid import UUID

from sqlalchemy import select

from api.app.access import access_records
from api.app.caller import Caller
from api.app.core import UseCases
from api.app.errors import AppError, busy, invalid
from api.app.visibility import Entry, Reader, Shown, decide
from api.application import RecordEntry
from api.retention import PurgeRecord, proposals
from api.upn_index import UpnIndex
from domain.errors import UnknownPupil
from domain.pupil import Pupil
from projections.access_log import AccessEntry, AccessLogIndex, access_log
from projections.census import AcademyCensus, CensusReader
from projections.chronology import ChronologyEntry, ChronologyIndex, Order, chronology
from projections.crossrefs import (
    AwaitingDecision,
    CrossReference,
    SafeguardingIndex,
    awaiting_decision,
)
from projections.crossrefs import cross_references as read_cross_references
from projections.deadlines import Deadline, DeadlineSchedule, deadline_pupils, due_deadlines
from projections.ledger import SignedCheckpoint
from projections.register import (
    STATUSES,
    RegisterFilter,
    RegisterReader,
    RegisterRow,
    SendRegister,
    ShownName,
)
from projections.retention_schedule import RetentionEntry, RetentionReader, RetentionSchedule

# Queries that record no access: what they show is not pupil content.
UNLOGGED: dict[str, str] = {
    "read_access_log": "who read the record: staff ids, times and purposes, no pupil content",
    "list_access_log": "who read which records (as read_access_log)",
    "read_checkpoint": "the log's size and root hash",
    "read_retention_schedule": "pupil ids and dates only",
    "read_pupil_retention": "a pupil id and dates only",
    "read_purge_records": "signed statements that records were destroyed",
    "read_sign_in_audit": "who failed to sign in: no pupil content",
}
_STATUS_ORDER = {"ehcp": 0, "sen_support": 1, "monitoring": 2, "none": 3}

# The read models each query reads, and so waits for (`UseCases.catch_up`); a query waits
# for no other. Names and free text are read from the events, never from a read model. The
# census is a query over the register's tables; `_current_academies` reads the deadlines'.
CHRONOLOGY = frozenset({ChronologyIndex.name})
REGISTER = frozenset({SendRegister.name})
DEADLINES = frozenset({DeadlineSchedule.name})
SAFEGUARDING = frozenset({SafeguardingIndex.name})
RETENTION = frozenset({RetentionSchedule.name})
RETENTION_SCOPED = frozenset({RetentionSchedule.name, DeadlineSchedule.name})
ACCESS_LOG = frozenset({AccessLogIndex.name})
# Queries that read no read model at all (the pupil's own events, the ledger, the store's
# tables), and so never wait: the record, its access log, the purge proposals and records,
# checkpoints and proofs, and finding a pupil by UPN.
READS: dict[str, frozenset[str]] = {
    "chronology": CHRONOLOGY,
    "chronology_entries": CHRONOLOGY,
    "list_pupils": REGISTER,
    "registrations": REGISTER,
    "register": REGISTER,
    "deadlines": DEADLINES,
    "cross_references": SAFEGUARDING,
    "awaiting_decision": SAFEGUARDING,
    "access_log_across": ACCESS_LOG,
    "retention_schedule": RETENTION_SCOPED,
    "pupil_retention": RETENTION,
}


class _Row(Protocol):
    @property
    def pupil_id(self) -> UUID: ...


_R = TypeVar("_R", bound=_Row)
T = TypeVar("T")


@dataclass(frozen=True)
class Listing(Generic[T]):
    """A page of a listing, how many match in all, and the names of the pupils shown."""

    rows: list[T]
    total: int
    names: dict[UUID, ShownName] = field(default_factory=dict)

    def name(self, pupil_id: UUID) -> str | None:
        shown = self.names.get(pupil_id)
        return None if shown is None else shown.name


@dataclass(frozen=True)
class Register:
    """A page of the SEND register, census counts and pupils per status of the academies."""

    rows: list[RegisterRow]
    total: int
    census: list[AcademyCensus]
    by_status: dict[str, int]
    academies: list[str]


@dataclass(frozen=True)
class ChronologyFilters:
    """The filters of a chronology read; `what` is how the access log records them."""

    kinds: Sequence[str] | None = None
    since: date | None = None
    until: date | None = None
    author_role: str | None = None
    area: str | None = None
    order: Order = "happened"

    @property
    def narrowed(self) -> bool:
        return any(
            v is not None for v in (self.kinds, self.since, self.until, self.author_role, self.area)
        )

    @property
    def what(self) -> str:
        chosen = {
            "kind": list(self.kinds) if self.kinds else None,
            "since": self.since,
            "until": self.until,
            "author_role": self.author_role,
            "area": self.area,
            "order": self.order if self.order != "happened" else None,
        }
        shown = urlencode({k: v for k, v in chosen.items() if v is not None}, doseq=True)
        return "chronology" + (f"?{shown}" if shown else "")


@dataclass(frozen=True)
class Chronology:
    """A pupil's record as the caller may see it, and the plans agreed on it (for the
    current-plans panel when the entries are filtered)."""

    pupil: Pupil
    entries: list[ChronologyEntry]
    plans: list[ChronologyEntry]


class Reads(UseCases):
    """Every read of pupils' records."""

    # ----- one pupil ----------------------------------------------------------------------

    def pupil(self, caller: Caller, pupil_id: UUID, purpose: str | None) -> Pupil:
        """A pupil's details and current SEND status (its record as an aggregate)."""
        allowed = self.allow(caller, "read_pupil")
        stated = self.purpose(caller, purpose)
        pupil = self.pupil_in_scope(caller, pupil_id, allowed)
        self.record_views(caller, [pupil_id], "record", stated)
        return pupil

    def chronology(
        self,
        caller: Caller,
        pupil_id: UUID,
        filters: ChronologyFilters,
        purpose: str | None,
    ) -> Chronology:
        """A pupil's chronology: entries the caller's role may not read are masked (kind
        and dates only), or omitted for a teacher; a filter never matches a masked entry on
        what it hides; an author always sees their own entries."""
        allowed = self.allow(caller, "read_chronology")
        stated = self.purpose(caller, purpose)
        pupil = self.pupil_in_scope(caller, pupil_id, allowed)
        entries, plans = self._chronology(caller, pupil_id, filters, stated, plans=True)
        return Chronology(pupil, entries, plans)

    def chronology_entries(
        self,
        caller: Caller,
        pupil_id: UUID,
        filters: ChronologyFilters,
        purpose: str | None,
    ) -> list[ChronologyEntry]:
        """The entries of `chronology` alone, for an edge that shows no pupil details or
        plans: the caller's scope is checked without rebuilding the pupil's record."""
        allowed = self.allow(caller, "read_chronology")
        stated = self.purpose(caller, purpose)
        self.check_scope(caller, pupil_id, allowed)
        return self._chronology(caller, pupil_id, filters, stated, plans=False)[0]

    def _chronology(
        self,
        caller: Caller,
        pupil_id: UUID,
        filters: ChronologyFilters,
        stated: str | None,
        *,
        plans: bool,
    ) -> tuple[list[ChronologyEntry], list[ChronologyEntry]]:
        """The entries, and with `plans` the plans agreed on the record; one access record."""
        self.catch_up(caller, CHRONOLOGY)
        view = self.view_for(caller)
        records = self._parts.records
        entries = chronology(
            records,
            pupil_id,
            kinds=filters.kinds,
            since=filters.since,
            until=filters.until,
            author_role=filters.author_role,
            area=filters.area,
            view=view,
            order=filters.order,
        )
        agreed: list[ChronologyEntry] = []
        if plans:
            every = entries
            if filters.narrowed:
                every = chronology(records, pupil_id, kinds=["PlanAgreed"], view=view)
            agreed = [e for e in every if e.type == "PlanAgreed"]
        self.record_views(caller, [pupil_id], filters.what, stated)
        return entries, agreed

    def view_for(self, caller: Caller) -> Callable[[str, str], str]:
        """The visibility rule for this caller, as the chronology projection asks it."""
        reader = Reader(caller.staff_id, caller.role)
        policy = self.policy

        def view(kind: str, author_id: str) -> str:
            return decide(policy, reader, Entry(kind, 0, author_id)).shown.value

        return view

    def pupil_id_of(self, caller: Caller, text: str) -> UUID:
        """The pupil a pupil id or UPN names, among the caller's academies (no content is
        shown: only the id, so the read is not logged)."""
        try:
            return UUID(text)
        except ValueError:
            pass
        upn = text.strip().upper()
        # The trust's UPN index answers at once; a pupil written to the store without the
        # application after the index was made (the demo, twice) is found the long way.
        holder = UpnIndex.of(self._parts.records).live_holders([upn]).get(upn)
        if holder is not None:
            if caller.covers(self.pupil_in_scope_academy(holder)):
                return holder
            raise UnknownPupil(text)
        for entry in self._parts.records.registrations():
            if entry.payload["upn"] == upn:
                if not caller.covers(self.pupil_in_scope_academy(entry.pupil_id)):
                    break
                return entry.pupil_id
        raise UnknownPupil(text)

    def pupil_in_scope_academy(self, pupil_id: UUID) -> str | None:
        return self._parts.records.get_pupil(pupil_id).academy

    def access_log(self, caller: Caller, pupil_id: UUID) -> list[dict[str, Any]]:
        """Who read this pupil's records, what, when and why (not itself logged)."""
        allowed = self.allow(caller, "read_access_log")
        self.pupil_in_scope(caller, pupil_id, allowed)
        return access_records(self._parts.records, pupil_id)

    # ----- listings -------------------------------------------------------------------------

    def list_pupils(
        self, caller: Caller, academy: str | None, limit: int, offset: int, purpose: str | None
    ) -> Listing[RegisterRow]:
        """The pupils of the caller's academies, by name."""
        self.allow(caller, "list_pupils")
        scope = self.academies(caller, academy)
        stated = self.purpose(caller, purpose)
        self.catch_up(caller, REGISTER)
        reader = self.register_reader()
        if scope is None or len(scope) == 1:
            one = None if scope is None else scope[0]
            page = reader.page(RegisterFilter(academy=one), limit=limit, offset=offset)
            rows, total = page.rows, page.total
        else:
            every = [r for a in scope for r in reader.page(RegisterFilter(academy=a)).rows]
            every.sort(key=lambda r: ((r.name or "").casefold(), str(r.pupil_id)))
            rows, total = every[offset : offset + limit], len(every)
        self.record_views(caller, [r.pupil_id for r in rows], "register", stated)
        return Listing(rows, total)

    def registrations(
        self, caller: Caller, academy: str | None, purpose: str | None
    ) -> list[RecordEntry]:
        """Every pupil's registration entry (purged pupils left out) whose pupil the caller
        covers (by the academy they are at now), optionally of one academy."""
        self.allow(caller, "list_pupils")
        scope = self.academies(caller, academy)
        stated = self.purpose(caller, purpose)
        self.catch_up(caller, REGISTER)
        records = self._parts.records
        now_at = {r.pupil_id: r.academy for r in RegisterReader(records).page().rows}
        found = [
            e
            for e in records.registrations()
            if scope is None or now_at.get(e.pupil_id, e.payload["academy"]) in scope
        ]
        self.record_views(caller, [e.pupil_id for e in found], "register", stated)
        return found

    def register(
        self,
        caller: Caller,
        *,
        academy: str | None = None,
        status: str | None = None,
        need: str | None = None,
        census_code: str | None = None,
        include_left: bool = False,
        sort: Literal["name", "status", "since"] = "name",
        limit: int = 50,
        offset: int = 0,
        purpose: str | None = None,
    ) -> Register:
        """The SEND register of the caller's academies, filtered and sorted, with census
        counts and pupils per status (all pupils there, whatever the filters)."""
        self.allow(caller, "list_pupils")
        scope = self.academies(caller, academy)
        stated = self.purpose(caller, purpose)
        self.catch_up(caller, REGISTER)
        records = self._parts.records
        reader = self.register_reader()
        known = reader.academies()
        shown_academies = [a for a in known if scope is None or a in scope]

        def where(one: str | None, chosen: str | None = status) -> RegisterFilter:
            return RegisterFilter(one, chosen, need, census_code, include_left)

        if scope is None or len(scope) == 1:
            one = None if scope is None else scope[0]
            page = reader.page(where(one), sort=sort, limit=limit, offset=offset)
            rows, total = page.rows, page.total
        else:
            # Each academy's first offset+limit rows, merged in the same order, then the page.
            pages = [reader.page(where(a), sort=sort, limit=offset + limit) for a in scope]
            candidates = [r for p in pages for r in p.rows]
            merged = sorted(candidates, key=self._register_order(sort, candidates))
            rows, total = merged[offset : offset + limit], sum(p.total for p in pages)
        in_scope: list[str | None] = list(scope) if scope is not None else [None]
        # Counts only: sorted by time, so no name is decrypted for them.
        by_status = dict.fromkeys(STATUSES, 0)
        for a in in_scope:
            for s, n in reader.status_counts(where(a)).items():
                by_status[s] += n
        census = [
            c for c in CensusReader(records).by_academy() if scope is None or c.academy in scope
        ]
        self.record_views(caller, [r.pupil_id for r in rows], "register", stated)
        return Register(rows, total, census, by_status, shown_academies)

    def _register_order(
        self, sort: str, rows: list[RegisterRow]
    ) -> Callable[[RegisterRow], tuple[Any, ...]]:
        """The order RegisterReader.page uses, to merge the pages of several academies."""
        if sort == "name":
            names = self.names([r.pupil_id for r in rows])

            def by_name(r: RegisterRow) -> tuple[Any, ...]:
                shown = names.get(r.pupil_id)
                if shown is None:  # unreadable (a purge in progress): last
                    return (True, "", "", str(r.pupil_id))
                family, given = shown.family_name.casefold(), shown.name.casefold()
                return (False, family, given, str(r.pupil_id))

            return by_name
        if sort == "status":
            return lambda r: (_STATUS_ORDER.get(r.status, 9), r.since, str(r.pupil_id))
        return lambda r: (r.since, str(r.pupil_id))

    def deadlines(
        self,
        caller: Caller,
        *,
        academy: str | None = None,
        person: str | None = None,
        mine: bool = False,
        overdue: bool = False,
        within_days: int = 28,
        as_of: date | None = None,
        limit: int = 100,
        offset: int = 0,
        purpose: str | None = None,
    ) -> Listing[Deadline]:
        """Statutory and local deadlines open on a day, most overdue first."""
        self.allow(caller, "list_deadlines")
        scope = self.academies(caller, academy)
        stated = self.purpose(caller, purpose)
        if mine:
            if person is not None and person != caller.staff_id:
                raise invalid("give either `mine` or `person`, not both")
            person = caller.staff_id
        day = as_of or self.today()
        if not date(1900, 1, 1) <= day <= date(2999, 12, 31):
            raise invalid(f"as_of {day} is out of range")
        self.catch_up(caller, DEADLINES)
        found = due_deadlines(
            self._parts.records,
            as_of=day,
            academy=None if scope is None or len(scope) != 1 else scope[0],
            person=person,
            overdue_only=overdue,
            within_days=within_days,
        )
        if scope is not None:
            # A deadline met after `as_of` keeps the academy it was met at: judge by where
            # the pupil is now, so a pupil who moved is never shown to their old academy.
            now_at = self._current_academies({d.pupil_id for d in found})
            found = [d for d in found if now_at.get(d.pupil_id) in scope]
        return self._shown_page(caller, found, offset, limit, "deadlines", stated)

    def cross_references(
        self,
        caller: Caller,
        academy: str | None = None,
        limit: int = 100,
        offset: int = 0,
        purpose: str | None = None,
    ) -> Listing[CrossReference]:
        """Every SEND-safeguarding cross-reference of the caller's academies, newest first."""
        self.allow(caller, "list_cross_references")
        scope = self.academies(caller, academy)
        stated = self.purpose(caller, purpose)
        self.catch_up(caller, SAFEGUARDING)
        found = [
            x
            for x in read_cross_references(self._parts.records, academy=academy)
            if scope is None or x.academy in scope
        ]
        what = "safeguarding cross-references"
        return self._shown_page(caller, found, offset, limit, what, stated)

    def awaiting_decision(
        self,
        caller: Caller,
        academy: str | None = None,
        limit: int = 100,
        offset: int = 0,
        purpose: str | None = None,
    ) -> Listing[AwaitingDecision]:
        """Pupils whose SEMH concerns no DSL decision has followed yet, longest first."""
        self.allow(caller, "list_awaiting_decision")
        scope = self.academies(caller, academy)
        stated = self.purpose(caller, purpose)
        self.catch_up(caller, SAFEGUARDING)
        found = [
            w
            for w in awaiting_decision(self._parts.records, academy=academy)
            if scope is None or w.academy in scope
        ]
        what = "safeguarding awaiting decision"
        return self._shown_page(caller, found, offset, limit, what, stated)

    def access_log_across(
        self,
        caller: Caller,
        *,
        academy: str | None = None,
        staff: str | None = None,
        since: date | None = None,
        until: date | None = None,
        read_at: str | None = None,
        pupil: UUID | None = None,
        limit: int | None = 100,
    ) -> list[AccessEntry]:
        """Who read which pupils' records across the caller's academies (by where each
        pupil is now), oldest first; `read_at`: only reads of pupils then at that academy."""
        self.allow(caller, "list_access_log")
        scope = self.academies(caller, academy)
        if pupil is not None:
            self.check_scope(caller, pupil, self.allow(caller, "read_access_log"))
        self.catch_up(caller, ACCESS_LOG)
        return access_log(
            self._parts.records,
            pupil=pupil,
            staff=staff,
            since=since,
            until=until,
            academy=read_at,
            pupils_now_at=scope,
            limit=limit,
        )

    # ----- retention (ids and dates only) -----------------------------------------------

    def retention_schedule(
        self, caller: Caller, view: str = "due", as_of: date | None = None
    ) -> tuple[date, list[RetentionEntry]]:
        """Pupils due for purge, under a legal hold, purged, or all not yet purged."""
        self.allow(caller, "read_retention_schedule")
        self.catch_up(caller, RETENTION_SCOPED)
        reader = RetentionReader(self._parts.records)
        day = as_of or self.today()
        views: dict[str, Callable[[], list[RetentionEntry]]] = {
            "due": lambda: reader.due(day),
            "held": reader.held,
            "purged": reader.purged,
            "all": reader.schedule,
        }
        if view not in views:
            raise invalid(f"view {view!r}: choose one of {', '.join(views)}")
        entries = views[view]()
        if not caller.trust_wide:
            # Only pupils whose current academy the caller covers; a purged pupil's academy
            # went with its key, so only trust-wide callers see the purged ones here (their
            # signed purge records are `purge_records`).
            now_at = self._current_academies({e.pupil_id for e in entries})
            entries = [e for e in entries if caller.covers(now_at.get(e.pupil_id))]
        return day, entries

    def pupil_retention(self, caller: Caller, pupil_id: UUID) -> RetentionEntry:
        """One pupil's place on the schedule; a purged pupil raises PupilPurged."""
        allowed = self.allow(caller, "read_pupil_retention")
        self.check_scope(caller, pupil_id, allowed)
        self.catch_up(caller, RETENTION)
        entry = RetentionReader(self._parts.records).entry(pupil_id)
        if entry is None:
            raise busy("schedule_behind", "the retention schedule has not caught up: try again")
        return entry

    def purge_proposals(self, caller: Caller) -> list[dict[str, Any]]:
        """Purges proposed and waiting for a second person's approval."""
        self.allow(caller, "read_retention_schedule")
        with self._parts.records.datastore.transaction(False) as session:
            rows = session.execute(select(proposals).order_by(proposals.c.proposed_at)).all()
        return [dict(row._mapping) for row in rows]

    def purge_records(self, caller: Caller) -> list[PurgeRecord]:
        """Every signed purge record of this installation, oldest first."""
        self.allow(caller, "read_purge_records")
        retention = self._parts.retention
        return [] if retention is None else retention.purge_records()

    def purge_record_of(self, pupil_id: object) -> PurgeRecord | None:
        """The signed purge record of a purged pupil (shown with every "purged" answer)."""
        retention = self._parts.retention
        if retention is None:
            return None
        return next((r for r in retention.purge_records() if r.pupil_id == pupil_id), None)

    # ----- the log ------------------------------------------------------------------------

    def checkpoint(self, caller: Caller) -> SignedCheckpoint:
        """A signed checkpoint of the whole trust-wide log, up to the latest write."""
        self.allow(caller, "read_checkpoint")
        return self._parts.ledger.checkpoint()

    def consistency(self, caller: Caller, old: int, new: int) -> dict[str, Any]:
        """A consistency proof (RFC 9162 2.1.4) that the log of size `old` is a prefix of
        the log of size `new`."""
        self.allow(caller, "read_checkpoint")
        ledger = self._parts.ledger
        ledger.integrate()
        size = ledger.size()
        if not 1 <= old <= new <= size:
            raise AppError(
                422,
                "bad_sizes",
                f"sizes must satisfy 1 <= old <= new <= {size} (the log's size now)",
            )
        return {
            "old_size": old,
            "new_size": new,
            "old_root": ledger.root(old).hex(),
            "new_root": ledger.root(new).hex(),
            "proof": [h.hex() for h in ledger.consistency_proof(old, new)],
        }

    # ----- internals ----------------------------------------------------------------------

    def _shown_page(
        self,
        caller: Caller,
        found: Sequence[_R],
        offset: int,
        limit: int,
        what: str,
        purpose: str | None,
    ) -> Listing[_R]:
        """The page of `found` to show, its pupils' names, and one access record per pupil
        on it (a listing that names pupils is a read of pupil content)."""
        page = list(found[offset : offset + limit])
        ids = [row.pupil_id for row in page]
        names = self.names(ids)
        self.record_views(caller, ids, what, purpose)
        return Listing(page, len(found), names)

    def _current_academies(self, pupil_ids: set[UUID]) -> dict[UUID, str]:
        """Each pupil's academy now (kept by the deadlines read model: moved on a
        transfer, kept on leaving; gone with a purge)."""
        if not pupil_ids:
            return {}
        c = deadline_pupils.c
        found: dict[UUID, str] = {}
        ids = sorted(pupil_ids)
        with self._parts.records.datastore.transaction(False) as session:
            for start in range(0, len(ids), 2000):
                chunk = ids[start : start + 2000]
                for pupil_id, academy in session.execute(
                    select(c.pupil_id, c.academy).where(c.pupil_id.in_(chunk))
                ):
                    found[pupil_id] = academy
        return found


MASKED = Shown.MASKED.value
