"""Former pupils: records imported when the trust started using Chronicle, kept to the end
of retention, then purged."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from api.demo.clock import weekday
from api.demo.world import ACADEMIES, FAMILY, GIVEN, staff, upn
from domain.policy import TrustPolicy
from domain.pupil import Pupil
from domain.values import Recorder, Role


def former_pupil(rng: random.Random, policy: TrustPolicy, index: int) -> Pupil:
    """A pupil who left years ago, whose records reached the end of retention and were
    purged. Their history was imported on the day the trust started using Chronicle."""
    academy = ACADEMIES[index % len(ACADEMIES)]
    sendco, dpo = staff(academy, Role.SENDCO), Recorder("TRUST-dpo-1", Role.DPO)
    imported = datetime(2024, 9, 2, 9, 0, tzinfo=UTC)
    # Born so that the SEN file's period (the policy's: DOB + 31 by default, Harmony's 25)
    # ended in 2024, the year before the purge; at the academy from Year 7 to Year 11.
    year = 2024 - policy.retention.years
    born = date(year, rng.randint(1, 10), rng.randint(1, 28))
    joined, left = date(year + 11, 9, 6), date(year + 16, 7, 22)
    pupil = Pupil.register(
        pupil_id=UUID(int=rng.getrandbits(128), version=4),
        upn=upn(academy, joined.year, index),
        legal_given_names=rng.choice(GIVEN),
        legal_family_name=rng.choice(FAMILY),
        preferred_name=None,
        date_of_birth=born,
        academy=academy.code,
        year_group=6 if academy.phase == "primary" else 11,
        recorded_by=sendco,
        happened_on=joined,
        recorded_at=imported,
    )
    pupil.leave_trust(
        policy=policy,
        destination="Further education college",
        records_sent_on=left,
        receipt_acknowledged_on=weekday(left + timedelta(days=2)),
        receipt_acknowledged_by="College learning support manager",
        recorded_by=sendco,
        happened_on=left,
        recorded_at=imported + timedelta(minutes=1),
    )
    due = policy.retention_due(born)  # no restricted entries: the SEN file's period
    hold = pupil.place_legal_hold(
        reason="Insurer's notice of a possible claim.",
        requested_by="Trust governance lead",
        hold_id=UUID(int=rng.getrandbits(128), version=4),
        recorded_by=dpo,
        happened_on=date(2025, 1, 13),
        recorded_at=datetime(2025, 1, 13, 11, 0, tzinfo=UTC),
    )
    pupil.lift_legal_hold(
        hold_id=hold,
        reason="No claim made within the notice period.",
        recorded_by=dpo,
        happened_on=date(2025, 6, 2),
        recorded_at=datetime(2025, 6, 2, 11, 0, tzinfo=UTC),
    )
    purge_on = max(due, date(2025, 6, 3))
    pupil.record_purge(
        proposed_by="TRUST-dpo-1",
        approved_by="TRUST-headteacher-1",
        reason=f"End of retention: date of birth + {policy.retention.years} years ({due}).",
        recorded_by=dpo,
        happened_on=purge_on,
        recorded_at=datetime.combine(purge_on, time(12), tzinfo=UTC),
    )
    return pupil
