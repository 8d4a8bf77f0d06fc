"""Each person's newest write (api/app/positions.py): kept per user id, bounded, and a
person who dropped out of the bound still sees their write (the floor)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from api.app.positions import WrittenBy


def test_each_person_has_their_own_newest_write() -> None:
    written = WrittenBy()
    ann, bo, cy = uuid4(), uuid4(), uuid4()
    written.wrote(ann, 7)
    written.wrote(bo, 12)
    written.wrote(ann, 5)  # a slower request of hers answered later: 7 still stands
    assert (written.newest(ann), written.newest(bo), written.newest(cy)) == (7, 12, 0)


def test_past_the_bound_the_least_recent_writers_merge_into_a_floor() -> None:
    written = WrittenBy(size=2)
    ann, bo, cy, dee = uuid4(), uuid4(), uuid4(), uuid4()
    written.wrote(ann, 3)
    written.wrote(bo, 9)
    written.wrote(ann, 4)  # Ann wrote again: Bo is now the least recent
    written.wrote(cy, 5)
    assert written.newest(bo) == 9  # dropped out, but still waits for his write
    assert written.newest(dee) == 9  # as does anyone not listed: slower, never wrong
    assert (written.newest(ann), written.newest(cy)) == (4, 5)
    with pytest.raises(ValueError, match="at least 1"):
        WrittenBy(size=0)
