"""Read-your-writes: each person's newest write through this process, as a log position.

A read waits for the read models it reads only as far as the caller's own writes
(`UseCases.catch_up`): the position they sent back (`Caller.seen`: the
`X-Chronicle-Position` header, the web session), their newest write through this process
(kept here, so a caller who sends no header still sees their own write), and the writes
this process made for nobody in particular (`PupilRecords.unclaimed_to`). Others' writes
through the API or the web never make a read wait: the projection follower brings them in.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from api.application import PupilRecords

DEFAULT_PEOPLE = 10_000


class WrittenBy:
    """Each person's (user id's) newest pupil write committed by this process.

    Bounded: past `size` people the least recently written drop out, and their positions
    merge into a floor every person not listed waits for (so a person who dropped out still
    sees their write; others may wait for it, which is only slower). Shared by the threads
    of one process."""

    def __init__(self, size: int = DEFAULT_PEOPLE) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1 (got {size})")
        self._size = size
        self._positions: OrderedDict[UUID, int] = OrderedDict()
        self._floor = 0
        self._lock = threading.Lock()

    def wrote(self, user_id: UUID, position: int) -> None:
        """`user_id` committed a write at `position`."""
        with self._lock:
            newest = max(self._positions.pop(user_id, 0), position)
            self._positions[user_id] = newest
            while len(self._positions) > self._size:
                _, dropped = self._positions.popitem(last=False)
                self._floor = max(self._floor, dropped)

    def newest(self, user_id: UUID) -> int:
        """The newest position `user_id` wrote through this process (a lower bound: 0, or
        the floor, for a person not listed)."""
        found = self._positions.get(user_id)
        return self._floor if found is None else found

    @contextmanager
    def writes_of(self, records: PupilRecords, user_id: UUID | None) -> Iterator[None]:
        """Pupil writes committed inside, in this thread, are `user_id`'s: once the block
        ends without an error, their newest position is kept as that person's. Without a
        user id (the command line's operator) the writes are nobody's in particular:
        every read of this process waits for them (`PupilRecords.unclaimed_to`)."""
        if user_id is None:
            yield
            return
        with records.claimed() as positions:
            yield
        if positions:
            self.wrote(user_id, max(positions))
