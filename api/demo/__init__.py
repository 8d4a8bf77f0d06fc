"""A deterministic synthetic trust: academies, staff, pupils and years of SEND history.

Everything here is invented. The same seed always gives the same pupils, ids, names,
dates and entries (salts and nonces are random, so the stored bytes differ).

Stories follow the trust's policy (`records.policy`): only the register moves, sub-flags
and plan kinds it allows, with what each requires recorded first. Most pupils have a few
entries; some have long EHC plan histories. No entry happens or is recorded after
DEMO_TODAY; due dates (next review, meeting, report due) may fall after it, as real ones do.
Demos of 20 pupils or more add former pupils whose records reached the end of retention
and were purged (and their keys shredded); they are not counted in `DemoSummary.pupils`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.engine import Engine

from api.academies import Academies
from api.application import PupilRecords
from api.demo.former import former_pupil
from api.demo.story import Story
from api.demo.world import ACADEMIES, DEMO_TODAY, Academy, staff

__all__ = [
    "ACADEMIES",
    "DEMO_TODAY",
    "Academy",
    "DemoSummary",
    "generate",
    "list_academies",
    "staff",
]


@dataclass(frozen=True)
class DemoSummary:
    pupils: int
    events: int
    academies: tuple[str, ...]
    first_pupil: UUID | None


def generate(
    records: PupilRecords,
    pupils: int = 200,
    seed: int = 2026,
    seal_purge: Callable[[UUID], object] | None = None,
) -> DemoSummary:
    """Write a synthetic trust of `pupils` pupils into `records`; deterministic per seed.

    `seal_purge` finishes each former pupil's recorded purge (the CLI passes
    `Retention.seal_recorded_purge`, which signs and journals it); without it the key is
    simply destroyed. The demo's academies are listed in the trust's academy table first
    (those already listed are left as they are)."""
    list_academies(records.datastore.engine, records.clock())
    rng = random.Random(seed)
    events = 0
    first: UUID | None = None
    for index in range(pupils):
        pupil = Story(rng, records.policy, index).tell()
        events += len(pupil.pending_events)
        records.save(pupil)
        first = first or pupil.id
    for index in range(pupils, pupils + _former_pupils(pupils)):
        pupil = former_pupil(rng, records.policy, index)
        events += len(pupil.pending_events)
        records.save(pupil)
        if seal_purge is not None:
            seal_purge(pupil.id)
        else:
            records.shred(pupil.id)
    return DemoSummary(pupils, events, tuple(a.code for a in ACADEMIES), first)


def list_academies(engine: Engine, now: datetime) -> None:
    """List the demo trust's academies (code, name, DfE number) in `engine`'s database."""
    Academies(engine).ensure(((a.code, a.name, f"{a.la_code}/{a.estab}") for a in ACADEMIES), now)


def _former_pupils(pupils: int) -> int:
    return 0 if pupils < 20 else 1 + pupils // 100
