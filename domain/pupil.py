"""The Pupil aggregate: one per pupil, the only place decisions about the record are made.

Each command checks the record's rules first and only then triggers its event, so a
refused command leaves no trace. State changes live in `when`, one branch per event type,
so replaying stored events rebuilds exactly the state the decisions saw.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import singledispatchmethod
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.errors import DateOutOfRange, InvalidEntry, PupilPurged, TransitionNotAllowed
from domain.events import (
    ConcernRaised,
    EntryCorrected,
    NeedRecorded,
    NeedWithdrawn,
    PupilRegistered,
    RecordsPurged,
    RegisterStatusChanged,
)
from domain.values import (
    AreaOfNeed,
    ConcernSource,
    NeedType,
    Recorder,
    RegisterStatus,
    SubFlag,
    validate_upn,
)

# Entries may be dated up to a day ahead of the recording clock (time zones, late evenings).
FUTURE_TOLERANCE = timedelta(days=1)


class Pupil(Aggregate):
    """A pupil's SEND record."""

    def __init__(self) -> None:
        # The created event's `when` fills state; the library calls this first.
        self.purged = False
        self.status = RegisterStatus.NONE
        self.sub_flags: tuple[SubFlag, ...] = ()
        self.needs: dict[NeedType, bool] = {}  # need -> primary?
        self.kinds: list[str] = []  # event type by sequence number - 1

    # ----- commands -------------------------------------------------------------------

    @classmethod
    def register(
        cls,
        *,
        upn: str,
        legal_given_names: str,
        legal_family_name: str,
        preferred_name: str | None,
        date_of_birth: date,
        academy: str,
        year_group: int,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
        pupil_id: UUID | None = None,
    ) -> Pupil:
        validate_upn(upn)
        _require_text("legal given names", legal_given_names)
        _require_text("legal family name", legal_family_name)
        _require_text("academy", academy)
        if not -2 <= year_group <= 14:
            raise InvalidEntry(
                f"year group {year_group} is out of range: use -2 (nursery 1) to 14 (post-16)"
            )
        at = recorded_at or PupilRegistered.create_timestamp()
        if date_of_birth > at.date():
            raise DateOutOfRange(f"date of birth {date_of_birth} is in the future")
        _check_happened_on(happened_on, at, date_of_birth)
        return cls._create(
            PupilRegistered,
            id=pupil_id or uuid4(),
            timestamp=at,
            recorded_by=recorded_by,
            happened_on=happened_on,
            upn=upn,
            legal_given_names=legal_given_names.strip(),
            legal_family_name=legal_family_name.strip(),
            preferred_name=(preferred_name or "").strip() or None,
            date_of_birth=date_of_birth,
            academy=academy,
            year_group=year_group,
        )

    def raise_concern(
        self,
        *,
        source: ConcernSource,
        area_of_need: AreaOfNeed | None,
        description: str,
        evidence: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        _require_text("description of the concern", description)
        self._record(
            ConcernRaised,
            recorded_by,
            happened_on,
            recorded_at,
            source=source,
            area_of_need=area_of_need,
            description=description,
            evidence=evidence,
        )

    def record_need(
        self,
        *,
        need: NeedType,
        primary: bool,
        notes: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        if self.needs.get(need) == primary:
            kind = "primary" if primary else "secondary"
            raise InvalidEntry(f"{need.value} is already recorded as the {kind} need")
        self._record(
            NeedRecorded,
            recorded_by,
            happened_on,
            recorded_at,
            need=need,
            primary=primary,
            notes=notes,
        )

    def withdraw_need(
        self,
        *,
        need: NeedType,
        reason: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        if need not in self.needs:
            raise InvalidEntry(f"{need.value} is not a recorded need of this pupil")
        if self.needs[need] and self.status.census_code in ("K", "E"):
            raise InvalidEntry(
                f"{need.value} is the primary need of a pupil on {self.status.census_code}: "
                "record another primary need first, or change the register status"
            )
        _require_text("reason", reason)
        self._record(NeedWithdrawn, recorded_by, happened_on, recorded_at, need=need, reason=reason)

    def change_register_status(
        self,
        *,
        status: RegisterStatus,
        sub_flags: tuple[SubFlag, ...],
        reason: str,
        decision_maker: str,
        parents_informed_on: date | None,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        if status == self.status and tuple(sub_flags) == self.sub_flags:
            raise TransitionNotAllowed(f"the pupil is already on the register as {status.value}")
        if status.census_code in ("K", "E") and self.primary_need is None:
            raise TransitionNotAllowed(
                f"{status.value} (census {status.census_code}) needs a primary need: "
                "record the primary need first"
            )
        _require_text("reason", reason)
        _require_text("decision maker", decision_maker)
        self._record(
            RegisterStatusChanged,
            recorded_by,
            happened_on,
            recorded_at,
            status=status,
            sub_flags=tuple(sub_flags),
            reason=reason,
            decision_maker=decision_maker,
            parents_informed_on=parents_informed_on,
        )

    def correct_entry(
        self,
        *,
        corrects_seq: int,
        what_was_wrong: str,
        correction: str,
        reason: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        if not 1 <= corrects_seq <= self.version:
            raise InvalidEntry(
                f"there is no entry {corrects_seq} to correct: this record has entries "
                f"1 to {self.version}"
            )
        _require_text("what was wrong", what_was_wrong)
        _require_text("reason for the correction", reason)
        self._record(
            EntryCorrected,
            recorded_by,
            happened_on,
            recorded_at,
            corrects_seq=corrects_seq,
            what_was_wrong=what_was_wrong,
            correction=correction,
            reason=reason,
        )

    def record_purge(
        self,
        *,
        proposed_by: str,
        approved_by: str,
        reason: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        if proposed_by == approved_by:
            raise InvalidEntry("a purge needs two different people: proposer and approver")
        self._record(
            RecordsPurged,
            recorded_by,
            happened_on,
            recorded_at,
            proposed_by=proposed_by,
            approved_by=approved_by,
            reason=reason,
        )

    # ----- queries ----------------------------------------------------------------------

    @property
    def primary_need(self) -> NeedType | None:
        return next((need for need, primary in self.needs.items() if primary), None)

    # ----- internals --------------------------------------------------------------------

    def _record(
        self,
        event_class: type[Any],
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None,
        **fields: Any,
    ) -> None:
        if self.purged:
            raise PupilPurged(self.id)
        at = recorded_at or event_class.create_timestamp()
        _check_happened_on(happened_on, at, self.date_of_birth)
        self.trigger_event(
            event_class,
            timestamp=at,
            recorded_by=recorded_by,
            happened_on=happened_on,
            **fields,
        )

    @singledispatchmethod
    def when(self, event: Any) -> None:
        raise NotImplementedError(f"Pupil cannot apply {type(event).__name__}")

    @when.register
    def _(self, event: PupilRegistered) -> None:
        self.upn = event.upn
        self.legal_given_names = event.legal_given_names
        self.legal_family_name = event.legal_family_name
        self.preferred_name = event.preferred_name
        self.date_of_birth = event.date_of_birth
        self.academy = event.academy
        self.year_group = event.year_group
        self.kinds.append(type(event).__name__)

    @when.register
    def _(self, event: ConcernRaised) -> None:
        self.kinds.append(type(event).__name__)

    @when.register
    def _(self, event: NeedRecorded) -> None:
        if event.primary:
            self.needs = {need: False for need in self.needs}
        self.needs[event.need] = event.primary
        self.kinds.append(type(event).__name__)

    @when.register
    def _(self, event: NeedWithdrawn) -> None:
        self.needs.pop(event.need, None)
        self.kinds.append(type(event).__name__)

    @when.register
    def _(self, event: RegisterStatusChanged) -> None:
        self.status = event.status
        self.sub_flags = event.sub_flags
        self.kinds.append(type(event).__name__)

    @when.register
    def _(self, event: EntryCorrected) -> None:
        self.kinds.append(type(event).__name__)

    @when.register
    def _(self, event: RecordsPurged) -> None:
        self.purged = True
        self.kinds.append(type(event).__name__)


def _require_text(what: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidEntry(f"{what} is required")


def _check_happened_on(happened_on: date, recorded_at: datetime, birth: date) -> None:
    if happened_on > (recorded_at + FUTURE_TOLERANCE).date():
        raise DateOutOfRange(
            f"the entry is dated {happened_on}, after the day it is recorded "
            f"({recorded_at.date()}): entries cannot describe the future"
        )
    if happened_on < birth:
        raise DateOutOfRange(
            f"the entry is dated {happened_on}, before the pupil's date of birth ({birth})"
        )
