"""SEN history from other products: the import use case (docs/import.md, "SEN history").

In this order: authorise (`import_history`: a SENDCo for their academies, a trust admin for
the trust); check every row (UPN and check letter, date, kind, source id, lengths; no source
id twice in the file); find each row's pupil by UPN in the trust's index (a UPN not on the
records is refused: the pupils are imported first); decide each row's entry by running the
`Pupil` commands in memory — a `HistoryImported` entry, or for a safeguarding record a
`SafeguardingReferenceImported` pointer — skipping a source record the pupil's record
already holds. A refused row stops the import before anything is written; a dry run stops
there too. Otherwise the pupils' new entries are saved in batches, one transaction each: a
crash loses at most the batch in flight, and running the import again completes it (the
entries saved are found by their source id and skipped, so nothing is doubled).

Every entry is recorded by the importing person on the day of the import; its provenance
(the source product, the source record's id, its original author and recorded time as
given) is part of the encrypted entry, so it is in the chronology, exports and bundles and
verifies with them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import sqlalchemy.exc
from eventsourcing.persistence import PersistenceError

from api.app.caller import Access, Caller
from api.app.core import UseCases
from api.app.errors import AppError
from api.app.imports import Progress
from api.application import ConflictingUpdate
from api.imports.history import HistoryRow, validate_history
from api.imports.mappings import Mapping
from api.imports.rows import Refusal
from api.imports.sources import SourceRow
from api.upn_index import UpnIndex
from domain.errors import DomainError
from domain.pupil import Pupil
from domain.pupil.history import SOURCE_MAX
from domain.values import Provenance

# Pupils per transaction, and at most this many entries in one (a pupil's own entries are
# never split: they are one save).
BATCH_PUPILS = 500
BATCH_ENTRIES = 5_000
ALREADY = "already imported"


@dataclass(frozen=True)
class HistoryPlan:
    """What one row comes to: the entry it becomes, or that the record already holds it."""

    line: int
    pupil_id: UUID
    entry: str  # an event type, or ALREADY

    def as_json(self, *, ids: bool = True) -> dict[str, object]:
        found: dict[str, object] = {"line": self.line, "entry": self.entry}
        if ids:
            found["pupil_id"] = str(self.pupil_id)
        return found


@dataclass
class HistoryReport:
    """What a history import found and did; no names, UPNs, titles or text (see rows.py)."""

    source: str  # the product the history comes from (--source)
    mapping: str
    encoding: str
    rows: int
    dry_run: bool
    refused: list[Refusal] = field(default_factory=list)
    plans: list[HistoryPlan] = field(default_factory=list)
    written: bool = False

    @property
    def entries(self) -> Counter[str]:
        return Counter(p.entry for p in self.plans if p.entry != ALREADY)

    def as_json(self, *, per_row: bool = False) -> dict[str, Any]:
        found: dict[str, Any] = {
            "source": self.source,
            "mapping": self.mapping,
            "encoding": self.encoding,
            "rows": self.rows,
            "dry_run": self.dry_run,
            "written": self.written,
            "pupils": len({p.pupil_id for p in self.plans if p.entry != ALREADY}),
            "entries": dict(sorted(self.entries.items())),
            "already_imported": sum(1 for p in self.plans if p.entry == ALREADY),
            "refused": [r.as_json() for r in self.refused],
        }
        if per_row:
            found["per_row"] = [p.as_json(ids=not self.dry_run) for p in self.plans]
        return found


class HistoryImports(UseCases):
    """SEN history from provision-mapping and safeguarding products, and spreadsheets."""

    def history(
        self,
        caller: Caller,
        rows: Sequence[SourceRow],
        mapping: Mapping,
        *,
        source: str,
        encoding: str,
        dry_run: bool = False,
        progress: Progress | None = None,
        batch: int = BATCH_PUPILS,
        after_batch: Callable[[int], None] | None = None,
    ) -> HistoryReport:
        """Check every row, decide each one's entry, and (unless a dry run or a row was
        refused) save them in batches. `after_batch(n)` runs after the n-th batch commits
        (tests crash an import there)."""
        allowed = self.allow(caller, "import_history")
        product = " ".join(source.split())
        if not product or len(product) > SOURCE_MAX:
            raise AppError(
                422,
                "invalid_source",
                f"name the product the history comes from (--source), at most {SOURCE_MAX} "
                "characters, e.g. 'Provision Map' or 'CPOMS'",
            )
        report = HistoryReport(product, mapping.name, encoding, len(rows), dry_run)
        checked = self._checked(rows, mapping, report)
        pupils = self._decide(caller, allowed, product, checked, report)
        if report.refused:
            report.refused.sort(key=lambda r: r.line)
            return report
        if not dry_run:
            with self.writing_for(caller):  # the importer's next read shows them
                self._write(pupils, progress, batch, after_batch)
            report.written = True
        return report

    def _checked(
        self, rows: Sequence[SourceRow], mapping: Mapping, report: HistoryReport
    ) -> list[HistoryRow]:
        today = self.today()
        checked: list[HistoryRow] = []
        first_line: dict[str, int] = {}
        for row in rows:
            found = validate_history(row, mapping, today)
            if isinstance(found, list):
                report.refused.extend(found)
                continue
            if found.source_id in first_line:
                report.refused.append(
                    Refusal(
                        row.line,
                        found.source_id_column,
                        f"the same source id as line {first_line[found.source_id]}: each "
                        "record of the source is imported once",
                    )
                )
                continue
            first_line[found.source_id] = row.line
            checked.append(found)
        return checked

    def _decide(
        self,
        caller: Caller,
        allowed: Access,
        product: str,
        rows: list[HistoryRow],
        report: HistoryReport,
    ) -> list[Pupil]:
        """Each pupil with new entries pending, in the order the file first names them."""
        records = self._parts.records
        scoped = allowed is not Access.ALLOWED
        # A pupil elsewhere in the trust is answered as one that does not exist, so the
        # report never confirms that a UPN is on another academy's roll.
        unknown = (
            f"no pupil with this UPN at your academies ({caller.scope_text()}): import the "
            "pupils first (chronicle import pupils)"
            if scoped
            else "no pupil with this UPN on the trust's records: import the pupils first "
            "(chronicle import pupils)"
        )
        holders = UpnIndex.of(records).live_holders(r.upn for r in rows)
        by_pupil: dict[UUID, list[HistoryRow]] = {}
        for row in rows:
            pupil_id = holders.get(row.upn)
            if pupil_id is None:
                report.refused.append(Refusal(row.line, row.upn_column, unknown))
                continue
            by_pupil.setdefault(pupil_id, []).append(row)
        records.data_keys.prefetch(list(by_pupil))
        now = self.now()
        decided: list[Pupil] = []
        for pupil_id, pupil_rows in by_pupil.items():
            pupil = records.get_pupil(pupil_id)
            if scoped and not caller.covers(pupil.academy):
                report.refused.extend(Refusal(r.line, r.upn_column, unknown) for r in pupil_rows)
                continue
            for row in sorted(pupil_rows, key=lambda r: (r.happened_on, r.line)):
                provenance = Provenance(product, row.source_id, row.author, row.recorded_at)
                if pupil.has_imported(provenance):
                    report.plans.append(HistoryPlan(row.line, pupil.id, ALREADY))
                    continue
                by, day = caller.recorder, row.happened_on
                try:
                    if row.kind is None:
                        pupil.import_safeguarding_reference(
                            policy=self.policy, cpoms_log_id=row.cpoms_log_id,
                            imported_from=provenance, recorded_by=by,
                            happened_on=day, recorded_at=now,
                        )  # fmt: skip
                    else:
                        pupil.import_history_entry(
                            kind=row.kind, title=row.title, details=row.details,
                            imported_from=provenance, recorded_by=by,
                            happened_on=day, recorded_at=now,
                        )  # fmt: skip
                except DomainError as e:
                    # The domain quotes the date of birth in a date refusal: not here.
                    reason = str(e).replace(str(pupil.date_of_birth), "the date of birth")
                    report.refused.append(Refusal(row.line, "(row)", reason))
                    continue
                entry = type(pupil.pending_events[-1]).__name__
                report.plans.append(HistoryPlan(row.line, pupil.id, entry))
            if pupil.pending_events:
                decided.append(pupil)
        report.plans.sort(key=lambda p: p.line)
        return decided

    def _write(
        self,
        pupils: list[Pupil],
        progress: Progress | None,
        size: int,
        after_batch: Callable[[int], None] | None,
    ) -> None:
        records = self._parts.records
        total = sum(len(p.pending_events) for p in pupils)
        done = 0
        for number, chunk in enumerate(_batches(pupils, size, BATCH_ENTRIES), start=1):
            entries = sum(len(p.pending_events) for p in chunk)
            try:
                records.save(*chunk)
            except (ConflictingUpdate, PersistenceError, sqlalchemy.exc.IntegrityError):
                raise AppError(
                    409,
                    "import_conflict",
                    f"batch {number} could not be saved: a pupil in it was changed by someone "
                    "else during the import; nothing of that batch was saved ({done} entries "
                    "of earlier batches were): run the import again to complete it",
                ) from None
            done += entries
            if progress is not None:
                progress(done, total)
            if after_batch is not None:
                after_batch(number)


def _batches(pupils: list[Pupil], most_pupils: int, most_entries: int) -> list[list[Pupil]]:
    """Pupils in order, cut into batches of at most `most_pupils` pupils and, where a
    batch already holds some, about `most_entries` entries."""
    found: list[list[Pupil]] = []
    current: list[Pupil] = []
    entries = 0
    for pupil in pupils:
        n = len(pupil.pending_events)
        if current and (len(current) >= most_pupils or entries + n > most_entries):
            found.append(current)
            current, entries = [], 0
        current.append(pupil)
        entries += n
    if current:
        found.append(current)
    return found
