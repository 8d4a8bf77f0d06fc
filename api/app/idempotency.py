"""Idempotency keys: a retried POST returns the first answer and writes nothing new.

A record holds the caller, the key, a hash of the request (method, path, If-Match and the
canonical JSON body) and the answer. Answers of writes hold only ids, versions and the entry
type (`Written`), never pupil plaintext, so they are stored as they are. The record is
inserted in the same transaction as the write's events: both commit or neither does, and
two concurrent requests with one key cannot both write (the second one's insert fails, its
transaction rolls back, and it answers with the first one's record). Only successful
answers are kept: a refused write wrote nothing, so its retry is simply tried again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

metadata = MetaData()
idempotency_records = Table(
    "http_idempotency",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", Text, nullable=False),  # ids, versions and types only (see above)
    Column("created_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Stored:
    request_hash: str
    status: int
    body: dict[str, Any]


def request_hash(method: str, path: str, if_match: str | None, body: Any) -> str:
    canonical = json.dumps(
        {"method": method, "path": path, "if_match": if_match, "body": body},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        metadata.create_all(engine, checkfirst=True)

    def find(self, user_id: UUID, key: str) -> Stored | None:
        t = idempotency_records.c
        with self._engine.connect() as conn:
            row = conn.execute(
                select(t.request_hash, t.status, t.body).where(t.user_id == user_id, t.key == key)
            ).first()
        if row is None:
            return None
        return Stored(row.request_hash, int(row.status), json.loads(row.body))

    def remember(
        self,
        session: Session,
        user_id: UUID,
        key: str,
        hashed: str,
        status: int,
        body: dict[str, Any],
        now: datetime,
    ) -> None:
        """Insert the record inside the write's own transaction."""
        session.execute(
            insert(idempotency_records).values(
                user_id=user_id,
                key=key,
                request_hash=hashed,
                status=status,
                body=json.dumps(body),
                created_at=now,
            )
        )
