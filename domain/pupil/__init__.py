"""The Pupil aggregate: one per pupil, the only place decisions about the record are made.

Each command checks the record's rules first and only then triggers its event, so a
refused command leaves no trace. State changes live in the mutators, one per event type,
so replaying stored events rebuilds exactly the state the decisions saw; a mutator never
refuses, because what is stored has already been decided.

The commands are grouped by concept in this package's modules (register, plans, EHC, ...);
`Pupil` is defined here so its topic stays ``domain.pupil:Pupil`` (see
`PupilRegistered.originator_topic_for_payload`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.errors import DateOutOfRange, InvalidEntry
from domain.events import (
    EVENT_TYPES,
    PupilEvent,
    PupilRegistered,
    PupilRejoined,
    TransferredWithinTrust,
)
from domain.pupil import (
    agencies,
    agreements,
    ehc,
    governance,
    history,
    movement,
    plans,
    record,
    register,
    rights,
    safeguarding,
)
from domain.pupil.agencies import AgencyCommands
from domain.pupil.agreements import AgreementCommands
from domain.pupil.checks import FUTURE_TOLERANCE, check_happened_on, require_text
from domain.pupil.ehc import EhcCommands
from domain.pupil.governance import GovernanceCommands
from domain.pupil.history import HistoryCommands
from domain.pupil.movement import MovementCommands
from domain.pupil.plans import PlanCommands
from domain.pupil.record import RecordCommands
from domain.pupil.register import RegisterCommands
from domain.pupil.rights import RightsCommands
from domain.pupil.safeguarding import SafeguardingCommands
from domain.pupil.state import Mutators
from domain.values import Recorder, validate_upn

__all__ = ["FUTURE_TOLERANCE", "Pupil"]


class Pupil(
    Aggregate,
    RecordCommands,
    RegisterCommands,
    PlanCommands,
    AgencyCommands,
    EhcCommands,
    SafeguardingCommands,
    AgreementCommands,
    MovementCommands,
    GovernanceCommands,
    RightsCommands,
    HistoryCommands,
):
    """A pupil's SEND record."""

    def __init__(self) -> None:
        # The created event's mutator fills the pupil's details; the library calls this first.
        self._init_state()

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
        require_text("legal given names", legal_given_names)
        require_text("legal family name", legal_family_name)
        require_text("academy", academy)
        if not -2 <= year_group <= 14:
            raise InvalidEntry(
                f"year group {year_group} is out of range: use -2 (nursery 1) to 14 (post-16)"
            )
        at = recorded_at or PupilRegistered.create_timestamp()
        if date_of_birth > at.date():
            raise DateOutOfRange(f"date of birth {date_of_birth} is in the future")
        check_happened_on(happened_on, at, date_of_birth)
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

    def _emit(
        self,
        event_class: type[PupilEvent],
        at: datetime,
        recorded_by: Recorder,
        happened_on: date,
        **fields: Any,
    ) -> None:
        self.trigger_event(
            event_class, timestamp=at, recorded_by=recorded_by, happened_on=happened_on, **fields
        )

    def when(self, event: Any) -> None:
        """Apply one event to the state (called by the library, for new and stored events)."""
        mutate = _MUTATORS.get(type(event))
        if mutate is None:
            raise NotImplementedError(f"Pupil cannot apply {type(event).__name__}")
        mutate(self, event)
        self.kinds.append(type(event).__name__)


def _registered(pupil: Pupil, event: PupilRegistered) -> None:
    pupil.pupil_id = event.originator_id
    pupil.upn = event.upn
    pupil.legal_given_names = event.legal_given_names
    pupil.legal_family_name = event.legal_family_name
    pupil.preferred_name = event.preferred_name
    pupil.date_of_birth = event.date_of_birth
    pupil.academy = event.academy
    pupil.year_group = event.year_group
    pupil.registered_on = event.happened_on


_MUTATORS: Mutators = {
    PupilRegistered: _registered,
    **record.MUTATORS,
    **register.MUTATORS,
    **plans.MUTATORS,
    **agencies.MUTATORS,
    **ehc.MUTATORS,
    **safeguarding.MUTATORS,
    **agreements.MUTATORS,
    **movement.MUTATORS,
    **governance.MUTATORS,
    **rights.MUTATORS,
    **history.MUTATORS,
}
assert set(_MUTATORS) == set(EVENT_TYPES), "every event type needs exactly one mutator"

# The events that set the pupil's current academy, and the field naming it. The scope check
# reads the newest of these instead of rebuilding the record (PupilRecords.academy_of); a
# test fails if a mutator assigns `academy` for an event not listed here.
ACADEMY_EVENTS: dict[type, str] = {
    PupilRegistered: "academy",
    TransferredWithinTrust: "to_academy",
    PupilRejoined: "academy",
}
