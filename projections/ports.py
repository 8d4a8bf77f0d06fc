"""What projections and their readers use of the records object, as protocols.

Dependencies point inward: `domain` imports nothing of ours, `crypto` is pure functions
and key stores, and `projections` read events using domain and crypto but never `api`,
not even for type checking (tests/unit/test_layers.py enforces this). The application
layer builds the records object (`api.application.PupilRecords`) and hands it in; these
protocols say exactly which of its members each reader touches, and `PupilRecords`
satisfies every one of them structurally (mypy checks that where `api` passes it in).

    ReadStore          datastore                      transactions on the store
    SealedEventSource  + recorder, sealing_mapper     read a pupil's stored events, open them
    PupilEventSource   + policy                       a chronology or access-log read
    BatchEventSource   + data_keys                    open many pupils' events (keys prefetched)
    RegisterSource     + clock                        the register's names and year groups
    EventLogSource     + factory                      the projection runner (tracking table)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from eventsourcing.persistence import ApplicationRecorder, InfrastructureFactory

from crypto.datakeys import DataKeyStore
from crypto.mapper import SealingMapper
from domain.policy import TrustPolicy

Clock = Callable[[], datetime]


class ReadStore(Protocol):
    """What reading a read model needs: transactions."""

    datastore: Any  # eventsourcing_sqlalchemy's datastore: transaction(commit) -> Session


class SealedEventSource(ReadStore, Protocol):
    """What reading stored events needs: the events table and the mapper that opens them."""

    recorder: ApplicationRecorder
    sealing_mapper: SealingMapper


class PupilEventSource(SealedEventSource, Protocol):
    """What a chronology (or access-log) read needs: the policy and the sealed events."""

    policy: TrustPolicy


class BatchEventSource(SealedEventSource, Protocol):
    """What opening many pupils' events at once needs: their data keys, prefetched in bulk."""

    data_keys: DataKeyStore


class RegisterSource(BatchEventSource, Protocol):
    """What the register's reader needs: the registrations, and today for year groups."""

    clock: Clock


class EventLogSource(BatchEventSource, Protocol):
    """What the projection runner needs: the event log, its keys, and the library's factory
    (for the tracking table that holds each projection's position)."""

    factory: InfrastructureFactory[Any]
