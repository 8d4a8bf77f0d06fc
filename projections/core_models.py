"""Register, census and retention read models: the projections this module contributes to
the catalogue (projections/catalogue.py).

The census has no tables of its own: it is a query over the register's (projections/
census.py), so rebuilding `send_register` rebuilds it too.
"""

from __future__ import annotations

from domain.policy import TrustPolicy
from projections.base import Projection
from projections.register import SendRegister
from projections.retention_schedule import RetentionSchedule


def core_projections(policy: TrustPolicy) -> list[Projection]:
    return [SendRegister(), RetentionSchedule(policy)]
