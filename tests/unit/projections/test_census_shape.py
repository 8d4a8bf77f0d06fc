"""The census return per academy, shaped from the counts."""

from __future__ import annotations

from projections.census import CensusCount, by_academy


def test_each_academy_gets_totals_and_k_and_e_by_primary_need() -> None:
    counts = [
        CensusCount("OAK", "N", None, 12),
        CensusCount("OAK", "K", "SLCN", 3),
        CensusCount("OAK", "K", "ASD", 1),
        CensusCount("OAK", "E", "ASD", 2),
        CensusCount("RIV", "E", "SEMH", 1),
    ]
    oak, riv = by_academy(counts)
    assert oak.as_json() == {
        "academy": "OAK",
        "N": 12,
        "K": 4,
        "E": 2,
        "primary_need": {"ASD": {"K": 1, "E": 2}, "SLCN": {"K": 3, "E": 0}},
    }
    assert riv.totals == {"N": 0, "K": 0, "E": 1} and riv.by_need == {"SEMH": {"K": 0, "E": 1}}
    assert by_academy([]) == []
