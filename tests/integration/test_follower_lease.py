"""The follower lease (api/leader.py) on a real PostgreSQL database, and on SQLite: of two
processes' leases (two connections here) exactly one runs the followers; when it gives the
lease up the other takes over within about a second; a holder whose connection the server
ends stops following; SQLite follows at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from api.leader import APPLICATION_NAME, FollowerLease, holders
from tests.conftest import Store


class Followers:
    """Counts how many leases run their followers at once."""

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.most = 0
        self.starts = 0
        self._lock = threading.Lock()

    def starter(self, name: str) -> Callable[[], Callable[[], None]]:
        def start() -> Callable[[], None]:
            with self._lock:
                self.running.add(name)
                self.starts += 1
                self.most = max(self.most, len(self.running))

            def stop() -> None:
                with self._lock:
                    self.running.discard(name)

            return stop

        return start


@pytest.fixture
def engine(store: Store) -> Iterator[Engine]:
    made = create_engine(store.url)
    yield made
    made.dispose()


def _until(condition: Callable[[], bool], within: float) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within} s")
        time.sleep(0.02)
    return time.monotonic() - start


def test_one_lease_of_two_follows_and_the_other_takes_over(engine: Engine) -> None:
    followers = Followers()
    a = FollowerLease(engine, followers.starter("a"), retry=0.5).start()
    b = FollowerLease(engine, followers.starter("b"), retry=0.5).start()
    try:
        if engine.dialect.name == "sqlite":
            # One process only on SQLite (`serve` refuses more): each follows at once.
            assert a.leading and b.leading
            return
        assert followers.running == {"a"} and a.leading and not b.leading
        assert len(holders(engine)) == 1
        time.sleep(1.2)  # b has retried and been refused, more than once
        assert followers.running == {"a"}
        a.stop()
        took = _until(lambda: followers.running == {"b"}, 3)
        assert took < 1.5, took
        assert followers.most == 1  # never both
    finally:
        a.stop()
        b.stop()
    assert followers.running == set()
    assert holders(engine) == []


@pytest.mark.postgres
@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_a_holder_whose_connection_is_ended_stops_following(engine: Engine) -> None:
    followers = Followers()
    lease = FollowerLease(engine, followers.starter("a"), retry=0.3).start()
    try:
        assert followers.running == {"a"}
        with engine.connect() as conn:
            ended = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name LIKE :name AND datname = current_database()"
                ),
                {"name": f"{APPLICATION_NAME}%"},
            ).scalars()
            assert list(ended) == [True]
        # Noticed at its next check: it stops following, then takes the lease again on a
        # new connection and starts its followers anew.
        _until(lambda: followers.starts == 2 and followers.running == {"a"}, 5)
        assert lease.leading and followers.most == 1
        assert len(holders(engine)) == 1
    finally:
        lease.stop()
