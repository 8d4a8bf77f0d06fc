"""Every read model of the installation, in the order the runner feeds them."""

from __future__ import annotations

from domain.policy import TrustPolicy
from projections.access_log import AccessLogIndex
from projections.base import Projection
from projections.core_models import core_projections
from projections.send_models import send_projections


def build_projections(policy: TrustPolicy) -> list[Projection]:
    """The read models for a trust running under `policy`."""
    return [*core_projections(policy), *send_projections(policy), AccessLogIndex()]
