"""Bringing a trust's pupils in from its MIS: the import use case (docs/import.md).

In this order: authorise (`import_pupils`: a SENDCo for their academies, a trust admin for
the trust); validate every row (UPN and its check letter, dates, year group, a listed
academy the caller covers, known codes, no UPN twice in the file); decide, per pupil, the
entries that make Chronicle agree with the MIS, by running the `Pupil` commands in memory
(a new pupil: registration, needs, register status; a pupil already here, found by UPN:
only what changed — a transfer, a need, a move on the register, with the decision
"imported from MIS"). A refused row stops the import before anything is written. A dry run
stops there too and says what would be written. Otherwise the pupils are saved in batches,
one transaction each, with their UPNs claimed in the trust's index (api/upn_index.py): a
crash loses at most the batch in flight, and running the import again completes it (the
pupils already saved are found by UPN and unchanged, so nothing is doubled).

Where the trust's policy refuses a move the MIS shows (an EHC plan the records do not hold
yet, say), the pupil is still imported and the move is reported as held, with the policy's
reason, for a person to record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy.exc
from eventsourcing.persistence import PersistenceError

from api.academies import Academies
from api.app.caller import Access, Caller
from api.app.core import UseCases
from api.app.errors import AppError, forbidden
from api.application import ConflictingUpdate
from api.imports.mappings import Mapping
from api.imports.rows import PupilRow, Refusal, validate
from api.imports.sources import SourceRow
from api.upn_index import UpnIndex
from domain.errors import DomainError
from domain.pupil import Pupil
from domain.values import NeedType, RegisterStatus

DECISION = "imported from MIS"
BATCH = 500
_STATUS_OF = {"K": RegisterStatus.SEN_SUPPORT, "E": RegisterStatus.EHCP}

# Called after each committed batch with (pupils done, pupils to write).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Held:
    """Something the MIS shows that was not recorded, and why (for a person to decide)."""

    line: int
    what: str
    reason: str

    def as_json(self) -> dict[str, object]:
        return {"line": self.line, "what": self.what, "reason": self.reason}


@dataclass(frozen=True)
class RowPlan:
    """What one row comes to: a new pupil, changes, or nothing; the entries by type."""

    line: int
    pupil_id: UUID
    outcome: str  # "new", "changed" or "unchanged"
    entries: tuple[str, ...]

    def as_json(self, *, ids: bool = True) -> dict[str, object]:
        found: dict[str, object] = {"line": self.line, "outcome": self.outcome}
        if ids:
            found["pupil_id"] = str(self.pupil_id)
        found["entries"] = list(self.entries)
        return found


@dataclass
class ImportReport:
    """What an import found and did; no names, UPNs or dates of birth (see rows.py)."""

    source: str
    encoding: str
    rows: int
    dry_run: bool
    refused: list[Refusal] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    plans: list[RowPlan] = field(default_factory=list)
    written: bool = False

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(p.outcome for p in self.plans)

    @property
    def entries(self) -> Counter[str]:
        return Counter(kind for p in self.plans for kind in p.entries)

    def as_json(self, *, per_row: bool = False) -> dict[str, Any]:
        found: dict[str, Any] = {
            "source": self.source,
            "encoding": self.encoding,
            "rows": self.rows,
            "dry_run": self.dry_run,
            "written": self.written,
            "pupils": {k: self.outcomes.get(k, 0) for k in ("new", "changed", "unchanged")},
            "entries": dict(sorted(self.entries.items())),
            "refused": [r.as_json() for r in self.refused],
            "held": [h.as_json() for h in self.held],
        }
        if per_row:
            found["per_row"] = [p.as_json(ids=not self.dry_run) for p in self.plans]
        return found


class Imports(UseCases):
    """Pupils from the MIS."""

    def pupils(
        self,
        caller: Caller,
        rows: Sequence[SourceRow],
        mapping: Mapping,
        *,
        encoding: str,
        academy: str | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
        batch: int = BATCH,
        after_batch: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Validate every row, decide each pupil's entries, and (unless a dry run or a row
        was refused) save them in batches. `after_batch(n)` runs after the n-th batch
        commits (tests crash an import there)."""
        allowed = self.allow(caller, "import_pupils")
        report = ImportReport(mapping.source, encoding, len(rows), dry_run)
        known = self._academies()
        if academy is not None:
            academy = self._default_academy(caller, academy, known)
        today = self.today()
        checked: list[PupilRow] = []
        first_line: dict[str, int] = {}
        for row in rows:
            found = validate(row, mapping, known, academy, today)
            if isinstance(found, list):
                report.refused.extend(found)
                continue
            if allowed is not Access.ALLOWED and not caller.covers(found.academy):
                report.refused.append(
                    Refusal(
                        row.line,
                        mapping.columns.get("academy", ("academy",))[0],
                        f"{found.academy} is not one of your academies ({caller.scope_text()})",
                    )
                )
                continue
            if found.upn in first_line:
                report.refused.append(
                    Refusal(
                        row.line,
                        found.upn_column,
                        f"the same UPN as line {first_line[found.upn]}: a UPN is one pupil's",
                    )
                )
                continue
            first_line[found.upn] = row.line
            checked.append(found)
        pupils = self._decide(caller, allowed, checked, report)
        if report.refused:
            report.refused.sort(key=lambda r: r.line)
            return report
        if not dry_run:
            with self.writing_for(caller):  # the importer's next read shows them
                self._write(pupils, progress, batch, after_batch)
            report.written = True
        return report

    # ----- deciding -----------------------------------------------------------------------

    def _academies(self) -> dict[str, str]:
        """Every way the trust's academies may be named in a file -> the academy's code."""
        names: dict[str, str] = {}
        for a in Academies(self._parts.records.datastore.engine).everyone():
            names[a.code] = a.code
            if a.urn:
                names[a.urn] = a.code
            if a.dfe_number:
                names[a.dfe_number] = a.code
                names[a.dfe_number.replace("/", "")] = a.code
        return names

    def _default_academy(self, caller: Caller, academy: str, known: dict[str, str]) -> str:
        code = known.get(academy.strip().upper())
        if code is None:
            refused = Academies(self._parts.records.datastore.engine).refusal(academy)
            raise AppError(422, "unknown_academy", refused or f"{academy!r} is not listed")
        if not caller.covers(code) and access_is_scoped(self, caller):
            raise forbidden(
                f"you may import pupils only at your academies ({caller.scope_text()}), not {code}"
            )
        return code

    def _decide(
        self, caller: Caller, allowed: Access, rows: list[PupilRow], report: ImportReport
    ) -> list[tuple[Pupil, str | None]]:
        """Each row's pupil with its new events pending (and the UPN to claim, if new)."""
        records = self._parts.records
        holders = UpnIndex.of(records).live_holders(r.upn for r in rows)
        records.data_keys.prefetch(list(holders.values()))
        now = self.now()
        decided: list[tuple[Pupil, str | None]] = []
        for row in rows:
            existing = holders.get(row.upn)
            if existing is None:
                pupil = self._register(caller, row, now, report)
                if pupil is None:
                    continue
                claim: str | None = row.upn
            else:
                pupil = records.get_pupil(existing)
                if allowed is not Access.ALLOWED and not caller.covers(pupil.academy):
                    report.refused.append(
                        Refusal(
                            row.line,
                            row.upn_column,
                            "this UPN is a pupil's at an academy you do not cover: ask "
                            "someone there to record the transfer",
                        )
                    )
                    continue
                self._update(caller, pupil, row, now, report)
                claim = None
            entries = tuple(type(e).__name__ for e in pupil.pending_events)
            outcome = "new" if claim else ("changed" if entries else "unchanged")
            report.plans.append(RowPlan(row.line, pupil.id, outcome, entries))
            if entries:
                decided.append((pupil, claim))
        return decided

    def _register(
        self, caller: Caller, row: PupilRow, now: datetime, report: ImportReport
    ) -> Pupil | None:
        try:
            pupil = Pupil.register(
                pupil_id=uuid4(),
                upn=row.upn,
                legal_given_names=row.legal_given_names,
                legal_family_name=row.legal_family_name,
                preferred_name=row.preferred_name,
                date_of_birth=row.date_of_birth,
                academy=row.academy,
                year_group=row.year_group,
                recorded_by=caller.recorder,
                happened_on=now.date(),
                recorded_at=now,
            )
        except DomainError as e:
            report.refused.append(Refusal(row.line, "(row)", _quiet(str(e), row)))
            return None
        self._sen(caller, pupil, row, now, report)
        return pupil

    def _update(
        self, caller: Caller, pupil: Pupil, row: PupilRow, now: datetime, report: ImportReport
    ) -> None:
        if pupil.academy != row.academy:
            self._try(
                report, row, "transfer to " + row.academy,
                lambda: pupil.transfer_within_trust(
                    to_academy=row.academy, reason=DECISION, recorded_by=caller.recorder,
                    happened_on=now.date(), recorded_at=now,
                ),
            )  # fmt: skip
        if pupil.year_group_on(now.date()) != row.year_group:
            self._try(
                report, row, f"year group {row.year_group}",
                lambda: pupil.change_year_group(
                    year_group=row.year_group, reason=DECISION, recorded_by=caller.recorder,
                    happened_on=now.date(), recorded_at=now,
                ),
            )  # fmt: skip
        if (pupil.legal_given_names, pupil.legal_family_name, pupil.date_of_birth) != (
            row.legal_given_names,
            row.legal_family_name,
            row.date_of_birth,
        ):
            report.held.append(
                Held(
                    row.line,
                    "legal names or date of birth differ from the MIS",
                    "not changed by an import: correct the registration entry",
                )
            )
        self._sen(caller, pupil, row, now, report)

    def _sen(
        self, caller: Caller, pupil: Pupil, row: PupilRow, now: datetime, report: ImportReport
    ) -> None:
        """The needs, then the register status, as the MIS has them (if the file says)."""
        if row.provision is None and not row.needs:
            return
        day = row.sen_start_date or now.date()
        for rank, need in enumerate(row.needs):
            primary = rank == 0
            if pupil.needs.get(need) == primary:
                continue
            if not primary and need in pupil.needs:
                continue  # already recorded; a secondary in the MIS may be Chronicle's primary
            self._try(
                report, row, f"{'primary' if primary else 'secondary'} need {need.value}",
                lambda need=need, primary=primary: pupil.record_need(  # type: ignore[misc]
                    need=need, primary=primary, notes=DECISION, recorded_by=caller.recorder,
                    happened_on=day, recorded_at=now,
                ),
            )  # fmt: skip
        if row.provision is None:
            return
        target = _STATUS_OF.get(row.provision)
        if target is None:
            if pupil.status.census_code == "N":
                return
            target = RegisterStatus.NONE
        if pupil.status == target:
            return
        self._try(
            report, row, f"register status {target.value} (census {row.provision})",
            lambda: pupil.change_register_status(
                policy=self.policy, status=target, sub_flags=(), reason=DECISION,
                decision_maker=DECISION, parents_informed_on=row.sen_start_date,
                recorded_by=caller.recorder, happened_on=day, recorded_at=now,
            ),
        )  # fmt: skip

    @staticmethod
    def _try(report: ImportReport, row: PupilRow, what: str, command: Callable[[], None]) -> None:
        try:
            command()
        except DomainError as e:
            report.held.append(Held(row.line, what, _quiet(str(e), row)))

    # ----- writing ------------------------------------------------------------------------

    def _write(
        self,
        pupils: list[tuple[Pupil, str | None]],
        progress: Progress | None,
        size: int,
        after_batch: Callable[[int], None] | None,
    ) -> None:
        records = self._parts.records
        index = UpnIndex.of(records)
        done = 0
        for number, start in enumerate(range(0, len(pupils), size), start=1):
            chunk = pupils[start : start + size]
            try:
                with records.datastore.transaction(True) as session:
                    index.claim(session, [(upn, p.id) for p, upn in chunk if upn is not None])
                    records.save(*(p for p, _ in chunk))
            except (ConflictingUpdate, PersistenceError, sqlalchemy.exc.IntegrityError):
                raise AppError(
                    409,
                    "import_conflict",
                    f"batch {number} could not be saved: a pupil in it was registered or "
                    "changed by someone else during the import; nothing of that batch was "
                    f"saved ({done} pupils of earlier batches were): run the import again "
                    "to complete it",
                ) from None
            done += len(chunk)
            if progress is not None:
                progress(done, len(pupils))
            if after_batch is not None:
                after_batch(number)


def access_is_scoped(cases: UseCases, caller: Caller) -> bool:
    return cases.allow(caller, "import_pupils") is not Access.ALLOWED


def _quiet(message: str, row: PupilRow) -> str:
    """A domain message without the row's date of birth (the domain quotes it)."""
    return message.replace(str(row.date_of_birth), "the date of birth")


def needs_of(pupil: Pupil) -> tuple[NeedType, ...]:
    """The pupil's needs, the primary first (for reports and tests)."""
    return tuple(sorted(pupil.needs, key=lambda n: not pupil.needs[n]))
