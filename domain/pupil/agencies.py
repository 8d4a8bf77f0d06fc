"""Outside professionals: who became involved, and the advice they gave."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from domain.events import AdviceReceived, ExternalAgencyInvolved
from domain.pupil.checks import member, require_text
from domain.pupil.state import Mutators, PupilState
from domain.values import AgencyKind, Recorder


class AgencyCommands(PupilState):
    def involve_agency(
        self,
        *,
        agency: AgencyKind,
        service: str,
        professional: str | None,
        reason: str,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(ExternalAgencyInvolved, happened_on, recorded_at)
        agency = member(AgencyKind, agency, "agency")
        require_text("the service involved", service)
        require_text("the reason for involving the service", reason)
        self._emit(
            ExternalAgencyInvolved,
            at,
            recorded_by,
            happened_on,
            agency=agency,
            service=service,
            professional=professional,
            reason=reason,
        )

    def receive_advice(
        self,
        *,
        agency: AgencyKind,
        service: str,
        professional: str | None,
        summary: str,
        recommendations: Sequence[str],
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(AdviceReceived, happened_on, recorded_at)
        agency = member(AgencyKind, agency, "agency")
        require_text("the service that advised", service)
        require_text("a summary of the advice", summary)
        for recommendation in recommendations:
            require_text("each recommendation", recommendation)
        self._emit(
            AdviceReceived,
            at,
            recorded_by,
            happened_on,
            agency=agency,
            service=service,
            professional=professional,
            summary=summary,
            recommendations=tuple(recommendations),
        )

    # ----- mutators ---------------------------------------------------------------------

    def _agency_involved(self, event: ExternalAgencyInvolved) -> None:
        first = self.agencies.get(event.agency)
        if first is None or event.happened_on < first:
            self.agencies[event.agency] = event.happened_on


def _advice_received(state: PupilState, event: AdviceReceived) -> None:
    """Advice is evidence in the chronology; decisions do not depend on it."""


MUTATORS: Mutators = {
    ExternalAgencyInvolved: AgencyCommands._agency_involved,
    AdviceReceived: _advice_received,
}
