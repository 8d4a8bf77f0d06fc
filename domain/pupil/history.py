"""SEND history brought in from other products, each entry with its provenance.

An imported entry records the past as the source held it (docs/import.md, "SEN history"):
it opens no deadline, changes no register status and needs none of the fields Chronicle
asks of its own entries (a provision map's plan has no SMART outcomes to give). The same
source record imported twice is one entry: the record remembers each (source, source id)
it holds, and the import skips those. A safeguarding record (a CPOMS incident) comes in as
a pointer only, with a note Chronicle writes: its detail is never read into the record.
"""

from __future__ import annotations

from datetime import date, datetime

from domain.errors import InvalidEntry
from domain.events import HistoryImported, SafeguardingReferenceImported
from domain.policy import TrustPolicy
from domain.pupil.checks import member, require_text
from domain.pupil.state import Mutators, PupilState
from domain.values import HistoryKind, Provenance, Recorder

TITLE_MAX = 200
DETAILS_MAX = 20_000
SOURCE_MAX = 80
SOURCE_ID_MAX = 128
_LOG_ID_MAX = 64


def provenance_key(provenance: Provenance) -> tuple[str, str]:
    """What makes two imported entries the same source record."""
    return provenance.source.strip().casefold(), provenance.source_id.strip()


class HistoryCommands(PupilState):
    def has_imported(self, provenance: Provenance) -> bool:
        """Whether the record already holds the entry imported from this source record."""
        return provenance_key(provenance) in self.imported

    def import_history_entry(
        self,
        *,
        kind: HistoryKind,
        title: str,
        details: str,
        imported_from: Provenance,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        at = self._open_entry(HistoryImported, happened_on, recorded_at)
        kind = member(HistoryKind, kind, "kind of entry")
        require_text("the entry's title", title)
        title = " ".join(title.split())
        if len(title) > TITLE_MAX:
            raise InvalidEntry(
                f"the title is {len(title)} characters; at most {TITLE_MAX}: put the rest in "
                "the details"
            )
        if len(details) > DETAILS_MAX:
            raise InvalidEntry(
                f"the details are {len(details)} characters; at most {DETAILS_MAX} in one entry"
            )
        self._check_provenance(imported_from)
        self._emit(
            HistoryImported,
            at,
            recorded_by,
            happened_on,
            kind=kind,
            title=title,
            details=details.strip(),
            imported_from=_tidy(imported_from),
        )

    def import_safeguarding_reference(
        self,
        *,
        policy: TrustPolicy,
        cpoms_log_id: str,
        imported_from: Provenance,
        recorded_by: Recorder,
        happened_on: date,
        recorded_at: datetime | None = None,
    ) -> None:
        """A pointer to the source's safeguarding record: the log id and a note Chronicle
        writes (nothing of the record's text is taken)."""
        at = self._open_entry(SafeguardingReferenceImported, happened_on, recorded_at)
        system = policy.safeguarding.external_system
        require_text(f"the {system} log id", cpoms_log_id)
        log_id = cpoms_log_id.strip()
        if len(log_id) > _LOG_ID_MAX or any(c.isspace() for c in log_id):
            raise InvalidEntry(
                f"that is not a {system} log id: the id only (at most {_LOG_ID_MAX} "
                "characters, no spaces)"
            )
        self._check_provenance(imported_from)
        source = " ".join(imported_from.source.split())
        note = f"A safeguarding record is held in {system} (imported from {source}): ask the DSL."
        self._emit(
            SafeguardingReferenceImported,
            at,
            recorded_by,
            happened_on,
            cpoms_log_id=log_id,
            note=note[: policy.safeguarding.brief_note_max_chars],
            imported_from=_tidy(imported_from),
        )

    def _check_provenance(self, provenance: Provenance) -> None:
        require_text("the source product", provenance.source)
        require_text("the source record's id", provenance.source_id)
        if len(provenance.source.strip()) > SOURCE_MAX:
            raise InvalidEntry(f"the source product's name is longer than {SOURCE_MAX}")
        if len(provenance.source_id.strip()) > SOURCE_ID_MAX:
            raise InvalidEntry(f"the source record's id is longer than {SOURCE_ID_MAX}")
        if len(provenance.original_author) > TITLE_MAX:
            raise InvalidEntry(f"the original author is longer than {TITLE_MAX} characters")
        if len(provenance.original_recorded_at) > SOURCE_MAX:
            raise InvalidEntry(f"the original recorded time is longer than {SOURCE_MAX}")
        if self.has_imported(provenance):
            raise InvalidEntry(
                f"{provenance.source} record {provenance.source_id} is already on this record: "
                "an entry is imported once"
            )


def _tidy(provenance: Provenance) -> Provenance:
    return Provenance(
        source=" ".join(provenance.source.split()),
        source_id=provenance.source_id.strip(),
        original_author=" ".join(provenance.original_author.split()),
        original_recorded_at=provenance.original_recorded_at.strip(),
    )


def _imported(state: PupilState, event: HistoryImported | SafeguardingReferenceImported) -> None:
    state.imported.add(provenance_key(event.imported_from))


MUTATORS: Mutators = {HistoryImported: _imported, SafeguardingReferenceImported: _imported}
