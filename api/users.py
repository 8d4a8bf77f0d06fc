"""People who may use the HTTP API: a role, the academies it covers, and a bearer token.

A token is shown once, when the person is added, and stored only as its SHA-256 hash: the
database never holds a usable token. Revoking keeps the row (who had access, and until
when, stays answerable) and refuses the token from then on.

Scope (docs/permissions.md): a person covers the academies named, each one of the trust's
listed academies (api/academies.py), or the whole trust. Trust-wide is asked for explicitly
(`chronicle users add --trust-wide`) and only trust-wide roles may have it; a teacher always
names academies. The stored form of trust-wide is an empty `academies` column ("", as rows
written before the academy list existed have it); any other value must be a comma-separated
list of codes, and a row that is neither (",", " "), or a teacher's "", is malformed: its
token is refused.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Column, DateTime, MetaData, String, Table, Uuid, insert, select, update
from sqlalchemy.engine import Engine

from api.academies import Academies
from domain.values import Role

metadata = MetaData()
api_users = Table(
    "api_users",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    # Comma-separated listed codes; "" (exactly) is the stored form of the whole trust.
    Column("academies", String, nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# Roles whose work spans the trust; only these may be made trust-wide.
TRUST_WIDE_ROLES = frozenset(
    {Role.SENDCO, Role.DSL, Role.DPO, Role.TRIBUNAL, Role.TRUST_ADMIN, Role.AUDITOR}
)


class UserError(ValueError):
    """A user cannot be added or changed as asked; the message says why."""


@dataclass(frozen=True)
class User:
    """A person using the API. `name` is their staff id, written on what they record."""

    user_id: UUID
    name: str
    role: Role
    academies: frozenset[str]  # empty: the whole trust
    created_at: datetime
    revoked_at: datetime | None = None
    # The stored academies are neither "" nor a list of codes: the person covers nothing
    # and their token is refused (`Users.by_token`), never read as the whole trust.
    malformed: bool = False

    @property
    def trust_wide(self) -> bool:
        return not self.academies and not self.malformed

    def covers(self, academy: str | None) -> bool:
        """Whether this person's scope includes `academy` (None: left the trust)."""
        if self.trust_wide:
            return True
        return academy is not None and not self.malformed and academy in self.academies

    def as_json(self) -> dict[str, Any]:
        return {
            "user_id": str(self.user_id),
            "name": self.name,
            "role": self.role.value,
            "academies": sorted(self.academies),
            "trust_wide": self.trust_wide,
            "created_at": self.created_at.isoformat(),
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
        }


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Users:
    """The user table in the installation's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        metadata.create_all(engine, checkfirst=True)

    def add(
        self,
        name: str,
        role: Role | str,
        academies: list[str],
        now: datetime,
        *,
        trust_wide: bool | None = None,
    ) -> tuple[User, str]:
        """Add a person; returns the user and the token, which is never shown again.

        Each of `academies` must be a listed academy code (api/academies.py). `trust_wide`
        asks for the whole trust (then no academies may be named, and the role must be a
        trust-wide one); False requires academies. The command line always says which; left
        out (None), an empty list asks for the whole trust, for callers in code."""
        role = _role(role)
        name = name.strip()
        if not name:
            raise UserError("give the person's staff id as NAME, e.g. OAK-sendco-2")
        wide = not academies if trust_wide is None else trust_wide
        codes = self._codes(academies)
        if wide:
            if codes:
                raise UserError(
                    "give either --trust-wide or --academy, not both: a trust-wide person "
                    "covers every academy"
                )
            if role not in TRUST_WIDE_ROLES:
                raise UserError(
                    f"a {role.value} cannot be trust-wide: give at least one --academy; only "
                    f"the roles {_trust_wide_roles()} may cover the whole trust"
                )
        elif not codes:
            if role not in TRUST_WIDE_ROLES:
                raise UserError(
                    f"a {role.value} must be given at least one --academy; only trust-wide "
                    f"roles ({_trust_wide_roles()}) may cover the whole trust"
                )
            raise UserError(
                "give the academies the person covers (--academy CODE, repeated) or "
                "--trust-wide for the whole trust"
            )
        token = secrets.token_urlsafe(32)
        user = User(uuid4(), name, role, frozenset(codes), now)
        with self._engine.begin() as conn:
            if conn.execute(select(api_users.c.user_id).where(api_users.c.name == name)).first():
                raise UserError(f"there is already a user {name!r}: revoke it or pick another name")
            conn.execute(
                insert(api_users).values(
                    user_id=user.user_id,
                    name=name,
                    role=role.value,
                    academies=",".join(codes),
                    token_hash=token_hash(token),
                    created_at=now,
                )
            )
        return user, token

    def _codes(self, academies: list[str]) -> list[str]:
        """The codes named, each checked against the trust's list; a blank one or one with
        a comma (",", "OAK,ELM") is refused, never read as "no academy"."""
        if not academies:
            return []
        listed = Academies(self._engine)
        for given in academies:
            code = given.strip()
            if not code or "," in code:
                raise UserError(
                    f"{given!r} is not an academy code: give one code per --academy "
                    "(repeat the option), or --trust-wide for the whole trust"
                )
            refused = listed.refusal(code)
            if refused is not None:
                raise UserError(refused)
        return sorted({a.strip() for a in academies})

    def revoke(self, name: str, now: datetime) -> User:
        global _revocations
        _revocations += 1  # this process's token caches forget every token at once
        with self._engine.begin() as conn:
            done = conn.execute(
                update(api_users)
                .where(api_users.c.name == name, api_users.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        if done.rowcount != 1:
            raise UserError(f"no active user {name!r}: see `chronicle users list`")
        found = self._one(api_users.c.name == name)
        assert found is not None
        return found

    def everyone(self) -> list[User]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(api_users).order_by(api_users.c.name)).all()
        return [_user(r) for r in rows]

    def by_token(self, token: str) -> User | None:
        """The person holding `token` (revoked or not), or None; None too for a row whose
        academies are malformed (it must never be read as the whole trust)."""
        found = self._one(api_users.c.token_hash == token_hash(token))
        return None if found is None or found.malformed else found

    def named(self, name: str) -> User | None:
        """The person whose staff id is `name` (revoked or not), or None."""
        return self._one(api_users.c.name == name)

    def _one(self, where: Any) -> User | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(api_users).where(where)).first()
        return None if row is None else _user(row)


# Bumped by every revocation in this process: a cached sign-in from before it is not used.
_revocations = 0


class TokenCache:
    """Recently signed-in tokens (by their hash, never the token), each for `ttl` seconds:
    a request with a known token then needs no query. A revocation in this process clears
    it at once; one made elsewhere (`chronicle users revoke`, another worker) is seen
    within `ttl` (CHRONICLE_TOKEN_CACHE_SECONDS, docs/api.md). Revoked and unknown tokens
    are never cached: they are looked up, and audited, every time."""

    MAX_ENTRIES = 10_000

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self._clock = ttl, clock
        self._found: dict[str, tuple[float, int, User]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> User | None:
        if self.ttl <= 0:
            return None
        key = token_hash(token)
        with self._lock:
            entry = self._found.get(key)
            if entry is None:
                return None
            expires, generation, user = entry
            if expires <= self._clock() or generation != _revocations:
                del self._found[key]
                return None
            return user

    def put(self, token: str, user: User) -> None:
        if self.ttl <= 0 or user.revoked_at is not None:
            return
        with self._lock:
            if len(self._found) >= self.MAX_ENTRIES:
                self._found.clear()
            self._found[token_hash(token)] = (self._clock() + self.ttl, _revocations, user)


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise UserError(
            f"unknown role {role!r}; roles are: {', '.join(r.value for r in Role)}"
        ) from None


def _trust_wide_roles() -> str:
    return ", ".join(sorted(r.value for r in TRUST_WIDE_ROLES))


def _user(row: Any) -> User:
    stored: str = row.academies
    codes = [a.strip() for a in stored.split(",")] if stored else []
    role = Role(row.role)
    # Blank codes (",", " "), or the whole trust for a role that may never have it.
    malformed = any(not c for c in codes) or (not codes and role not in TRUST_WIDE_ROLES)
    return User(
        user_id=row.user_id,
        name=row.name,
        role=role,
        academies=frozenset(c for c in codes if c),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        malformed=malformed,
    )
