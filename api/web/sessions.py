"""Web sessions: a personal token exchanged for an opaque, server-side session.

The cookie holds only a random 256-bit session id; the server keeps (in memory, keyed by the
id's SHA-256) the person's token, a CSRF token and the session's age. Nothing about a pupil
or a person is in the cookie. Each request looks the token up again (`Users.by_token`), so a
revoked token ends its sessions at once. Sessions end on sign-out, after `IDLE` without use
and after `LIFETIME` in all; a restart of the service signs everyone out.

Why server-side rather than a signed cookie: sign-out really ends the session, no signing
key has to be managed or rotated, and the token never leaves the server once exchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

COOKIE = "chronicle_session"
PRE_COOKIE = "chronicle_signin"  # the sign-in form's own CSRF value (double-submit)
IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=10)
MAX_SESSIONS = 10_000


@dataclass
class Session:
    token: str
    csrf: str
    started: datetime
    last_used: datetime
    flash: list[str] = field(default_factory=list)


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """Sessions in this process's memory."""

    def __init__(self) -> None:
        self._by_key: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self, token: str, now: datetime) -> str:
        """A new session for `token`; returns the id for the cookie."""
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._expire(now)
            if len(self._by_key) >= MAX_SESSIONS:
                oldest = min(self._by_key, key=lambda k: self._by_key[k].last_used)
                del self._by_key[oldest]
            self._by_key[_key(session_id)] = Session(token, secrets.token_urlsafe(32), now, now)
        return session_id

    def get(self, session_id: str | None, now: datetime) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            found = self._by_key.get(_key(session_id))
            if found is None:
                return None
            if now - found.last_used > IDLE or now - found.started > LIFETIME:
                del self._by_key[_key(session_id)]
                return None
            found.last_used = now
            return found

    def end(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._by_key.pop(_key(session_id), None)

    def _expire(self, now: datetime) -> None:
        stale = [
            k
            for k, s in self._by_key.items()
            if now - s.last_used > IDLE or now - s.started > LIFETIME
        ]
        for k in stale:
            del self._by_key[k]


def same(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of CSRF values; a missing one never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
