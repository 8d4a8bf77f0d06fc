"""A pupil's SEN section for the MIS or the DfE school-to-school service: a CTF out.

The use case of `chronicle export-ctf`: authorised as an export (`export`), each pupil
reached only within the caller's academies, each one recorded as read ("ctf export") in
the same access log as every other read before the file is returned. Statutory codes only
(api/imports/ctf_out.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

from api.academies import Academies
from api.app.caller import Caller
from api.app.core import UseCases
from api.imports.ctf_out import CtfPupil, School, write_ctf
from domain.pupil import Pupil


class TransferFiles(UseCases):
    """Common Transfer Files of pupils' SEN sections."""

    def ctf(
        self,
        caller: Caller,
        pupil_ids: Sequence[UUID],
        purpose: str | None,
        dest: School | None = None,
    ) -> bytes:
        allowed = self.allow(caller, "export")
        stated = self.purpose(caller, purpose)
        pupils = [self.pupil_in_scope(caller, pupil_id, allowed) for pupil_id in pupil_ids]
        today = self.today()
        rows = [self._row(p, today) for p in pupils]
        self.record_views(caller, [p.id for p in pupils], "ctf export", stated)
        source = self._school(pupils[0].academy) if pupils else None
        return write_ctf(rows, source, dest, self.now())

    def _row(self, pupil: Pupil, today: date) -> CtfPupil:
        since = pupil.status_since  # (the record is rebuilt already: not decrypted again)
        needs = tuple(sorted(pupil.needs, key=lambda n: (not pupil.needs[n], n.value)))
        return CtfPupil(
            upn=pupil.upn,
            surname=pupil.legal_family_name,
            forename=pupil.legal_given_names,
            preferred_forename=pupil.preferred_name,
            date_of_birth=pupil.date_of_birth,
            year_group=pupil.year_group_on(today),
            provision=pupil.status.census_code,
            provision_since=since if pupil.status.census_code != "N" else None,
            needs=tuple(n.value for n in needs),
        )

    def _school(self, code: str) -> School | None:
        academy = Academies(self._parts.records.datastore.engine).get(code)
        if academy is None or not academy.dfe_number:
            return None
        lea, estab = academy.dfe_number.split("/")
        return School(lea, estab, academy.name)
