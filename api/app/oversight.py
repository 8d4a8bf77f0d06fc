"""The two-person purge, scoped: a DPO proposes, a different person approves.

The rules of the purge itself (holds, due date, override, the crash-safe order of its
steps, the signed record) are `api.retention.Retention`'s; this adds what every use case
has: the role and the pupil's academy are checked before anything is decided or audited.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from api.app.bodies import ProposePurge
from api.app.caller import Caller
from api.app.core import UseCases
from api.app.errors import busy
from api.retention import PurgeRecord, Retention


class Purges(UseCases):
    """Proposing and approving purges at the end of retention."""

    def propose(self, caller: Caller, pupil_id: UUID, body: ProposePurge) -> date:
        """Propose purging the pupil's records; returns the retention due date."""
        allowed = self.allow(caller, "propose_purge")
        self.check_scope(caller, pupil_id, allowed)
        override = (body.override or "").strip() or None
        return self._retention().propose(pupil_id, caller.recorder, override)

    def approve(self, caller: Caller, pupil_id: UUID) -> PurgeRecord:
        """Approve a proposed purge and carry it out: irreversible."""
        allowed = self.allow(caller, "approve_purge")
        self.check_scope(caller, pupil_id, allowed)
        with self.writing_for(caller):  # the tombstone is the approver's write
            return self._retention().approve(pupil_id, caller.recorder)

    def available(self) -> bool:
        return self._parts.retention is not None

    def _retention(self) -> Retention:
        found = self._parts.retention
        if found is None:
            raise busy(
                "retention_unavailable",
                "this service has no purge journal or signing key configured: run purges with "
                "`chronicle retention` on the installation",
            )
        return found
