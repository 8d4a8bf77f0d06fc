"""Concerns, needs and corrections: the everyday entries of a chronology."""

from __future__ import annotations

from datetime import date, datetime

from domain.errors import InvalidEntry, UnknownEntry
from domain.events import ConcernRaised, EntryCorrected, NeedRecorded, NeedWithdrawn
from domain.pupil.checks import member, require_text
from domain.pupil.state import Mutators, PupilState
from domain.values import AreaOfNeed, ConcernSource, NeedType, Recorder


class RecordCommands(PupilState):
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
        at = self._open_entry(ConcernRaised, happened_on, recorded_at)
        source = member(ConcernSource, source, "source of the concern")
        if area_of_need is not None:
            area_of_need = member(AreaOfNeed, area_of_need, "area of need")
        require_text("description of the concern", description)
        self._emit(
            ConcernRaised,
            at,
            recorded_by,
            happened_on,
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
        at = self._open_entry(NeedRecorded, happened_on, recorded_at)
        need = member(NeedType, need, "need type")
        if self.needs.get(need) == primary:
            kind = "primary" if primary else "secondary"
            raise InvalidEntry(f"{need.value} is already recorded as the {kind} need")
        self._emit(
            NeedRecorded, at, recorded_by, happened_on, need=need, primary=primary, notes=notes
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
        at = self._open_entry(NeedWithdrawn, happened_on, recorded_at)
        need = member(NeedType, need, "need type")
        if need not in self.needs:
            raise InvalidEntry(f"{need.value} is not a recorded need of this pupil")
        if self.needs[need] and self.status.census_code in ("K", "E"):
            raise InvalidEntry(
                f"{need.value} is the primary need of a pupil on {self.status.census_code}: "
                "record another primary need first, or change the register status"
            )
        require_text("reason", reason)
        self._emit(NeedWithdrawn, at, recorded_by, happened_on, need=need, reason=reason)

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
        at = self._open_entry(EntryCorrected, happened_on, recorded_at)
        if not 1 <= corrects_seq <= len(self.kinds):
            raise UnknownEntry(
                f"there is no entry {corrects_seq} to correct: this record has entries "
                f"1 to {len(self.kinds)}"
            )
        require_text("what was wrong", what_was_wrong)
        require_text("reason for the correction", reason)
        self._emit(
            EntryCorrected,
            at,
            recorded_by,
            happened_on,
            corrects_seq=corrects_seq,
            what_was_wrong=what_was_wrong,
            correction=correction,
            reason=reason,
        )

    # ----- mutators ---------------------------------------------------------------------

    def _need_recorded(self, event: NeedRecorded) -> None:
        if event.primary:
            self.needs = {need: False for need in self.needs}
        self.needs[event.need] = event.primary

    def _need_withdrawn(self, event: NeedWithdrawn) -> None:
        self.needs.pop(event.need, None)


def _unchanged(state: PupilState, event: object) -> None:
    """Entries that add to the chronology without changing what decisions depend on."""


MUTATORS: Mutators = {
    ConcernRaised: _unchanged,
    NeedRecorded: RecordCommands._need_recorded,
    NeedWithdrawn: RecordCommands._need_withdrawn,
    EntryCorrected: _unchanged,
}
