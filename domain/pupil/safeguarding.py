"""Where SEND meets safeguarding: a brief note pointing at CPOMS, never the detail.

The DSL decides whether a matter is safeguarding and logs it in the external system; the
chronology only says that a log exists, where, and what the DSL decided (Harmony §11).
"""

from __future__ import annotations

from datetime import date, datetime

from domain.errors import InvalidEntry, NotAllowedByPolicy
from domain.events import SafeguardingCrossReferenced
from domain.policy import TrustPolicy
from domain.pupil.checks import member, require_text
from domain.pupil.state import Mutators, PupilState
from domain.values import DslDecision, Recorder, Role

_LOG_ID_MAX = 64


class SafeguardingCommands(PupilState):
    def cross_reference_safeguarding(
        self,
        *,
        policy: TrustPolicy,
        cpoms_log_id: str,
        note: str,
        dsl_decision: DslDecision,
        decided_by: str | None,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(SafeguardingCrossReferenced, happened_on, recorded_at)
        dsl_decision = member(DslDecision, dsl_decision, "DSL decision")
        rules = policy.safeguarding
        system = rules.external_system
        if dsl_decision == DslDecision.NOT_SAFEGUARDING:
            decided_by = _not_safeguarding_check(system, cpoms_log_id, decided_by, recorded_by)
            cpoms_log_id = ""
        else:
            require_text(f"the {system} log id", cpoms_log_id)
        if len(cpoms_log_id) > _LOG_ID_MAX or any(c.isspace() for c in cpoms_log_id.strip()):
            # The text is not echoed: it may be the very detail that belongs in CPOMS.
            raise InvalidEntry(
                f"that is not a {system} log id: give the id only (at most {_LOG_ID_MAX} "
                f"characters, no spaces); the detail stays in {system}"
            )
        require_text("the brief note", note)
        if len(note) > rules.brief_note_max_chars or "\n" in note.strip():
            raise NotAllowedByPolicy(
                f"the note is {len(note)} characters; this trust keeps cross-reference notes to "
                f"one line of at most {rules.brief_note_max_chars}: say that a {system} log "
                f"exists and who to ask, the detail stays in {system}"
            )
        if rules.dsl_decides and not (decided_by or "").strip():
            raise NotAllowedByPolicy(
                "in this trust the DSL decides whether a matter is safeguarding: name the DSL "
                "who decided (decided_by)"
            )
        self._emit(
            SafeguardingCrossReferenced,
            at,
            recorded_by,
            happened_on,
            cpoms_log_id=cpoms_log_id.strip(),
            note=note,
            dsl_decision=dsl_decision,
            decided_by=decided_by,
        )


def _not_safeguarding_check(
    system: str, cpoms_log_id: str, decided_by: str | None, recorded_by: Recorder
) -> str:
    """A decision that a matter is not safeguarding: the DSL's own entry, with no log."""
    if recorded_by.role != Role.DSL:
        raise NotAllowedByPolicy(
            "only the DSL decides that a matter is not a safeguarding matter: the DSL "
            "records this entry themselves"
        )
    if cpoms_log_id.strip():
        raise InvalidEntry(
            f"a matter that is not safeguarding has no {system} log: leave the log id empty, "
            "or record the DSL's other decision with the log"
        )
    if decided_by is not None and decided_by.strip() and decided_by != recorded_by.staff_id:
        raise InvalidEntry(
            f"the DSL who decided is the one recording it ({recorded_by.staff_id}), "
            f"not {decided_by}"
        )
    return recorded_by.staff_id


def _cross_referenced(state: PupilState, event: SafeguardingCrossReferenced) -> None:
    """Restricted entries never feed a decision about the SEND record."""


MUTATORS: Mutators = {SafeguardingCrossReferenced: _cross_referenced}
