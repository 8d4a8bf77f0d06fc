"""Web sessions: a personal token exchanged for an opaque, server-side session.

The cookie holds only a random 256-bit session id. The server keeps each session as a row
of `web_sessions` in the installation's database, keyed by the SHA-256 of the id (the id
itself is stored nowhere): the person's user id (never their token, nor a hash of it), the
session's CSRF token, when it started and was last used, the newest event-log position the
person wrote through it (so a read on another worker shows their own writes) and the
one-line notices waiting for the next page. Nothing about a pupil or a person is in the
cookie, and the row holds no pupil data.

Every request reads the row together with the person's `api_users` row (one query), so a
revoked token ends its sessions at once, on every worker. Sessions end on sign-out (the row
is deleted), after `IDLE` without use and after `LIFETIME` in all. Because they are in the
database, sessions are shared by every worker process (`chronicle serve --workers N`) and
survive a restart of a worker or of the whole service.

Why server-side rather than a signed cookie: sign-out really ends the session, no signing
key has to be managed or rotated, and the token never leaves the server once exchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from api.users import User, api_users
from api.users import _user as user_of_row

COOKIE = "chronicle_session"
PRE_COOKIE = "chronicle_signin"  # the sign-in form's own CSRF value (double-submit)
IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=10)
MAX_SESSIONS = 10_000
# A session's last use is written at most this often (not on every request): idle time is
# counted from a use at most this long before the real last one.
TOUCH_EVERY = timedelta(seconds=60)
_FLASH_MAX, _FLASH_CHARS = 5, 300

metadata = MetaData()
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("session_key", String(64), primary_key=True),  # SHA-256 (hex) of the cookie's id
    Column("user_id", Uuid, nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    # Seconds since the epoch (UTC).
    Column("started_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=False, index=True),
    # The newest event-log position written through this session (Caller.seen).
    Column("seen", BigInteger, nullable=False, default=0),
    # Notices for the next page (JSON list of short lines: entry numbers, dates, ids).
    Column("flash", Text, nullable=False, default="[]"),
)


@dataclass
class Session:
    """One signed-in session, as read for this request; `flash` and `seen` changed during
    the request are written back by `Sessions.save`."""

    key: str
    user_id: UUID
    csrf: str
    started: datetime
    last_used: datetime
    seen: int = 0
    flash: list[str] = field(default_factory=list)
    _stored: tuple[int, tuple[str, ...]] = field(default=(0, ()), repr=False)

    @property
    def changed(self) -> bool:
        return (self.seen, tuple(self.flash)) != self._stored


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _seconds(moment: datetime) -> float:
    return moment.timestamp()


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Sessions:
    """Sessions in the installation's database (the `web_sessions` table, made if absent)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        metadata.create_all(engine, checkfirst=True)

    def start(self, user: User, now: datetime) -> str:
        """A new session for `user`; returns the id for the cookie."""
        session_id = secrets.token_urlsafe(32)
        with self._engine.begin() as conn:
            conn.execute(delete(web_sessions).where(_expired(now)))
            count = conn.execute(select(func.count()).select_from(web_sessions)).scalar() or 0
            if count >= MAX_SESSIONS:
                oldest = (
                    select(web_sessions.c.session_key)
                    .order_by(web_sessions.c.last_used_at)
                    .limit(count - MAX_SESSIONS + 1)
                )
                conn.execute(
                    delete(web_sessions).where(
                        web_sessions.c.session_key.in_(oldest.scalar_subquery())
                    )
                )
            conn.execute(
                insert(web_sessions).values(
                    session_key=_key(session_id),
                    user_id=user.user_id,
                    csrf=secrets.token_urlsafe(32),
                    started_at=_seconds(now),
                    last_used_at=_seconds(now),
                    seen=0,
                    flash="[]",
                )
            )
        return session_id

    def get(self, session_id: str | None, now: datetime) -> tuple[Session, User] | None:
        """The live session with this id and its person (revoked or not: the caller ends
        the session of a revoked token), or None; an expired session is deleted."""
        if not session_id:
            return None
        key = _key(session_id)
        with self._engine.connect() as conn:
            row = conn.execute(
                select(web_sessions, *[c.label(f"u_{c.name}") for c in api_users.c])
                .select_from(
                    web_sessions.outerjoin(api_users, api_users.c.user_id == web_sessions.c.user_id)
                )
                .where(web_sessions.c.session_key == key)
            ).first()
        if row is None:
            return None
        started, last_used = _moment(row.started_at), _moment(row.last_used_at)
        if now - last_used > IDLE or now - started > LIFETIME or row.u_user_id is None:
            self.end(session_id)
            return None
        user = user_of_row(_UserRow(row))
        if user.malformed:
            self.end(session_id)
            return None
        if now - last_used >= TOUCH_EVERY:
            with self._engine.begin() as conn:
                conn.execute(
                    update(web_sessions)
                    .where(web_sessions.c.session_key == key)
                    .values(last_used_at=_seconds(now))
                )
            last_used = now
        flash = _flash(row.flash)
        session = Session(
            key, user.user_id, row.csrf, started, last_used, int(row.seen), flash,
            (int(row.seen), tuple(flash)),
        )  # fmt: skip
        return session, user

    def save(self, session: Session) -> None:
        """Write back what changed during the request (the notices, the write position). A
        session ended meanwhile (signed out, expired) stays ended."""
        if not session.changed:
            return
        flash = [line[:_FLASH_CHARS] for line in session.flash[-_FLASH_MAX:]]
        with self._engine.begin() as conn:
            conn.execute(
                update(web_sessions)
                .where(web_sessions.c.session_key == session.key)
                .values(seen=session.seen, flash=json.dumps(flash))
            )
        session._stored = (session.seen, tuple(session.flash))

    def end(self, session_id: str | None) -> None:
        if session_id:
            with self._engine.begin() as conn:
                conn.execute(
                    delete(web_sessions).where(web_sessions.c.session_key == _key(session_id))
                )


def _expired(now: datetime) -> ColumnElement[bool]:
    return or_(
        web_sessions.c.last_used_at < _seconds(now - IDLE),
        web_sessions.c.started_at < _seconds(now - LIFETIME),
    )


class _UserRow:
    """The `api_users` columns of a joined row, by their own names (for `user_of_row`)."""

    def __init__(self, row: object) -> None:
        self._row = row

    def __getattr__(self, name: str) -> object:
        return getattr(self._row, f"u_{name}")


def _flash(stored: str) -> list[str]:
    try:
        found = json.loads(stored)
    except ValueError:
        return []
    return [str(line) for line in found] if isinstance(found, list) else []


def same(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of CSRF values; a missing one never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
