"""Sign-ins: every failed bearer token and web sign-in is counted, throttled and audited.

A token is checked here for both edges (the API's `Authorization: Bearer`, the web's
sign-in form). A failure (a token nobody holds, or a revoked one) is written to the
`sign_in_audit` table with the time, the source address, the channel (`api` or `web`), the
outcome and the token's first eight characters — never the whole token, which may be a
real one mistyped. Once a source address, or a token prefix, has `max_failures` failures
within the window, every sign-in from that address or with that prefix is refused (429,
with the seconds to wait) *before* the token is looked at, even a right one, and the
refusal is audited too (`throttled`; refusals do not extend the wait). The counts are
queries on the table, so every process serving the same database sees the same counts.

A DPO or trust admin reads the audit (`read_sign_in_audit`): it names addresses and token
prefixes, no person and no pupil.
"""

from __future__ import annotations

import math
import string
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)

from api.app.caller import Caller
from api.app.core import Parts, UseCases
from api.app.errors import AppError
from api.settings import Settings, load_settings
from api.users import TokenCache, User

Channel = Literal["api", "web"]
# Outcomes that count towards throttling, and the refusal of a throttled attempt.
UNKNOWN, REVOKED, THROTTLED = "unknown_token", "revoked_token", "throttled"
FAILURES = (UNKNOWN, REVOKED)
PREFIX_LENGTH = 8
_TOKEN_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_")

metadata = MetaData()
sign_in_audit = Table(
    "sign_in_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("source", String(64), nullable=False),
    Column("token_prefix", String(PREFIX_LENGTH), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("outcome", String(20), nullable=False),
    Index("sign_in_audit_source_at", "source", "at"),
    Index("sign_in_audit_prefix_at", "token_prefix", "at"),
)


@dataclass(frozen=True)
class SignInLimits:
    """How many failures, within how long, before sign-ins are refused."""

    max_failures: int = 10
    window: timedelta = timedelta(minutes=5)

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInLimits:
        return cls(
            settings.sign_in_max_failures, timedelta(seconds=settings.sign_in_window_seconds)
        )


@dataclass(frozen=True)
class SignInAttempt:
    """One row of the sign-in audit."""

    at: datetime
    source: str
    token_prefix: str
    channel: str
    outcome: str


@dataclass(frozen=True)
class SignInAudit:
    """A page of the sign-in audit, newest first, and how many rows match."""

    attempts: list[SignInAttempt]
    total: int


def token_prefix(token: str) -> str:
    """The first eight characters of a presented token, any character a token never holds
    shown as `?` (so nothing but token characters reaches the table)."""
    return "".join(c if c in _TOKEN_CHARACTERS else "?" for c in token[:PREFIX_LENGTH])


def _source(source: str | None) -> str:
    text = (source or "unknown").strip()[:64]
    return "".join(c if c.isprintable() else "?" for c in text) or "unknown"


def _utc(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything here is written in UTC.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


class SignIns(UseCases):
    """Checking a token for a sign-in (throttled, audited) and reading the audit."""

    def __init__(self, parts: Parts, limits: SignInLimits | None = None) -> None:
        super().__init__(parts)
        self._engine = parts.records.datastore.engine
        metadata.create_all(self._engine, checkfirst=True)
        settings = load_settings()
        # CHRONICLE_SIGN_IN_MAX_FAILURES and CHRONICLE_SIGN_IN_WINDOW_SECONDS by default.
        self.limits = limits or SignInLimits.from_settings(settings)
        self.tokens = TokenCache(settings.token_cache_seconds)
        # When this process last recorded a failure from a source or with a prefix: a
        # cached token is checked against the counts again while one is recent.
        self._failed: dict[str, float] = {}

    def authenticate(self, token: str, source: str | None, channel: Channel) -> User | None:
        """The person holding `token` (revoked or not), or None; a failure is audited.

        Refused with 429 (`retry_after`: seconds) while `source` or the token's prefix has
        had too many failures recently, before the token is looked at."""
        cached = self.recent(token, source)
        if cached is not None:
            return cached
        now = _utc(self.now())
        where, prefix = _source(source), token_prefix(token)
        wait = self._wait(now, where, prefix)
        if wait is not None:
            self._record(now, where, prefix, channel, THROTTLED)
            raise AppError(
                429,
                "too_many_failed_sign_ins",
                f"too many failed sign-ins from this address or with this token recently: "
                f"try again in {_in_words(wait)} (check you copied all of your token; ask "
                "your trust admin for a new one if it was revoked)",
                retry_after=wait,
            )
        user = self._parts.users.by_token(token)
        if user is None or user.revoked_at is not None:
            self._record(now, where, prefix, channel, UNKNOWN if user is None else REVOKED)
        else:
            self.tokens.put(token, user)
        return user

    def recent(self, token: str, source: str | None) -> User | None:
        """The person holding `token` if it signed in within the token cache's time and
        nothing failed lately from `source` or with the token's prefix; None otherwise
        (then `authenticate`). Memory only: no query, so an edge may ask it without
        leaving its event loop."""
        cached = self.tokens.get(token)
        if cached is not None and not self._failed_lately(_source(source), token_prefix(token)):
            return cached
        return None

    def known(self, token: str) -> User | None:
        """The person holding a token already signed in (a web session's), or None: from
        the cache when it has them, else looked up (not audited: no one is signing in)."""
        user = self.tokens.get(token)
        if user is None:
            user = self._parts.users.by_token(token)
            if user is not None:
                self.tokens.put(token, user)
        return user

    def _failed_lately(self, source: str, prefix: str) -> bool:
        window = self.limits.window.total_seconds()
        now = time.monotonic()
        return any(
            now - self._failed.get(key, -math.inf) < window for key in (source, prefix) if key
        )

    def read_audit(
        self,
        caller: Caller,
        *,
        limit: int = 100,
        offset: int = 0,
        source: str | None = None,
        outcome: str | None = None,
    ) -> SignInAudit:
        """Failed and refused sign-ins, newest first (DPO, trust admin)."""
        self.allow(caller, "read_sign_in_audit")
        table = sign_in_audit
        conditions = []
        if source is not None:
            conditions.append(table.c.source == source)
        if outcome is not None:
            conditions.append(table.c.outcome == outcome)
        with self._engine.connect() as conn:
            total = conn.execute(
                select(func.count()).select_from(table).where(*conditions)
            ).scalar_one()
            rows = conn.execute(
                select(table)
                .where(*conditions)
                .order_by(table.c.at.desc(), table.c.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
        attempts = [
            SignInAttempt(_utc(r.at), r.source, r.token_prefix, r.channel, r.outcome) for r in rows
        ]
        return SignInAudit(attempts, int(total))

    # ----- the counts -----------------------------------------------------------------------

    def _wait(self, now: datetime, source: str, prefix: str) -> int | None:
        """Seconds until `source` and `prefix` are both under the limit again, or None."""
        waits = [
            self._wait_for(now, column, value)
            for column, value in (("source", source), ("token_prefix", prefix))
            if value
        ]
        found = [w for w in waits if w is not None]
        return max(found) if found else None

    def _wait_for(self, now: datetime, column: str, value: str) -> int | None:
        limits, table = self.limits, sign_in_audit
        with self._engine.connect() as conn:
            recent = conn.execute(
                select(table.c.at)
                .where(
                    table.c[column] == value,
                    table.c.at > now - limits.window,
                    table.c.outcome.in_(FAILURES),
                )
                .order_by(table.c.at.desc())
                .limit(limits.max_failures)
            ).all()
        if len(recent) < limits.max_failures:
            return None
        # Under the limit again once the oldest of the last `max_failures` leaves the window.
        frees_at = _utc(recent[-1].at) + limits.window
        return max(1, math.ceil((frees_at - now).total_seconds()))

    def _record(self, now: datetime, source: str, prefix: str, channel: str, outcome: str) -> None:
        if len(self._failed) > 10_000:
            self._failed.clear()
        for key in (source, prefix):
            if key:
                self._failed[key] = time.monotonic()
        with self._engine.begin() as conn:
            conn.execute(
                insert(sign_in_audit).values(
                    at=now, source=source, token_prefix=prefix, channel=channel, outcome=outcome
                )
            )


def _in_words(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"
