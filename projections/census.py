"""Census counts: pupils by census code (N, K, E) and primary need, per academy.

The January school census asks each academy for its pupils with SEN provision — K (SEN
support) and E (EHC plan) — by primary type of need. These counts are queries over the SEND
register's tables (projections/register.py), not a projection of their own: today's counts
group the register's current rows; counts as of a date fold the register's history of each
pupil over the entries that had happened by then (`happened_on`, so a back-dated entry
counts from the day it happened), exactly as the register folds it for today.

N counts the pupils Chronicle holds a record for with no K or E status (none or
monitoring), not every pupil on roll: the census takes those from the MIS.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from itertools import groupby
from typing import Any

from sqlalchemy import case, func, select

from projections.ports import ReadStore
from projections.register import Fact, fold, history, pupils

CODES = ("N", "K", "E")


@dataclass(frozen=True)
class CensusCount:
    """How many pupils of an academy have a census code and primary need (None for N)."""

    academy: str
    census_code: str
    primary_need: str | None
    pupils: int


@dataclass(frozen=True)
class AcademyCensus:
    """One academy's census return: totals by code, and K and E by primary need."""

    academy: str
    totals: dict[str, int]  # "N", "K", "E"
    by_need: dict[str, dict[str, int]]  # need -> {"K": n, "E": n}

    def as_json(self) -> dict[str, Any]:
        return {"academy": self.academy, **self.totals, "primary_need": self.by_need}


class CensusReader:
    """Census counts from the SEND register, today or as of a date."""

    def __init__(self, records: ReadStore) -> None:
        self._records = records

    def counts(self, as_of: date | None = None) -> list[CensusCount]:
        """Pupils per academy, census code and primary need (N rows carry no need: the
        census asks the type of need only for K and E); as of `as_of` if given."""
        with self._records.datastore.transaction(False) as session:
            if as_of is None:
                p = pupils.c
                need = case((p.census_code == "N", None), else_=p.primary_need)
                rows = session.execute(
                    select(p.academy, p.census_code, need, func.count())
                    .where(p.academy.is_not(None))
                    .group_by(p.academy, p.census_code, need)
                ).all()
                counted = Counter({(a, c, n): int(k) for a, c, n, k in rows})
            else:
                counted = _fold_as_of(session, as_of)
        return sorted(
            (CensusCount(a, c, n, k) for (a, c, n), k in counted.items()),
            key=lambda c: (c.academy, CODES.index(c.census_code), c.primary_need or ""),
        )

    def by_academy(self, as_of: date | None = None) -> list[AcademyCensus]:
        """The counts shaped as each academy's census return."""
        return by_academy(self.counts(as_of))


def by_academy(counts: list[CensusCount]) -> list[AcademyCensus]:
    returns = []
    for academy, items in groupby(counts, key=lambda c: c.academy):
        totals = dict.fromkeys(CODES, 0)
        by_need: dict[str, dict[str, int]] = {}
        for c in items:
            totals[c.census_code] += c.pupils
            if c.census_code != "N" and c.primary_need is not None:
                by_need.setdefault(c.primary_need, {"K": 0, "E": 0})[c.census_code] += c.pupils
        returns.append(AcademyCensus(academy, totals, dict(sorted(by_need.items()))))
    return returns


def _fold_as_of(session: Any, as_of: date) -> Counter[tuple[str, str, str | None]]:
    h = history.c
    columns = [c for c in history.c if c.name != "pupil_id"]
    rows = session.execute(
        select(h.pupil_id, *columns)
        .where(h.happened_on <= as_of)
        .order_by(h.pupil_id, h.seq)
        .execution_options(yield_per=5000)
    )
    counted: Counter[tuple[str, str, str | None]] = Counter()
    for _, facts in groupby(rows, key=lambda r: r[0]):
        state = fold(Fact(*r[1:]) for r in facts)
        if state is None or state.academy is None:
            continue
        code = state.census_code
        counted[(state.academy, code, None if code == "N" else state.primary_need)] += 1
    return counted
