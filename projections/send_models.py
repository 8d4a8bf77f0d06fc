"""Chronology, deadlines and safeguarding cross-reference read models (docs/read-models.md).

Each lives in its own module with its tables and its reads:
`projections.chronology`, `projections.deadlines`, `projections.crossrefs`.
"""

from __future__ import annotations

from domain.policy import TrustPolicy
from projections.base import Projection
from projections.chronology import ChronologyIndex
from projections.crossrefs import SafeguardingIndex
from projections.deadlines import DeadlineSchedule


def send_projections(policy: TrustPolicy) -> list[Projection]:
    """The SEND read models for a trust running under `policy`."""
    return [ChronologyIndex(policy), DeadlineSchedule(policy), SafeguardingIndex()]
