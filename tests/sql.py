"""Raw SQL against a test store: how the tests play the attacker who edits the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text

from tests.conftest import Store


def raw(store: Store, sql: str, **params: object) -> list[tuple[Any, ...]]:
    engine = create_engine(store.url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def event_rows(store: Store) -> list[tuple[int, bytes]]:
    """(notification id, state) of every stored event, in commit order."""
    return [
        (int(i), bytes(s))
        for i, s in raw(store, "SELECT id, state FROM chronicle_events ORDER BY id")
    ]


def set_state(store: Store, notification_id: int, state: bytes) -> None:
    raw(store, "UPDATE chronicle_events SET state = :s WHERE id = :i", s=state, i=notification_id)


def event_count(store: Store) -> int:
    return int(raw(store, "SELECT count(*) FROM chronicle_events")[0][0])
