"""The signed-in token cache: a hit for `ttl` seconds, then a look-up again; a revocation in
this process ends every cached sign-in at once; revoked tokens are never cached."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from sqlalchemy import create_engine

from api import users as users_module
from api.academies import Academies
from api.users import TokenCache, User, Users
from domain.values import Role

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def _user(revoked: bool = False) -> User:
    return User(uuid4(), "sendco-1", Role.SENDCO, frozenset(), NOW, NOW if revoked else None)


def test_a_token_is_served_from_the_cache_for_its_ttl_then_looked_up_again() -> None:
    now = [0.0]
    cache = TokenCache(5.0, clock=lambda: now[0])
    person = _user()
    cache.put("tok-a", person)
    assert cache.get("tok-a") is person
    assert cache.get("tok-b") is None
    now[0] = 4.9
    assert cache.get("tok-a") is person
    now[0] = 5.0
    assert cache.get("tok-a") is None  # expired: the next request looks the token up


def test_revoked_tokens_are_never_cached_and_a_ttl_of_zero_caches_nothing() -> None:
    cache = TokenCache(5.0)
    cache.put("tok-r", _user(revoked=True))
    assert cache.get("tok-r") is None
    off = TokenCache(0)
    off.put("tok-a", _user())
    assert off.get("tok-a") is None


def test_a_revocation_in_this_process_ends_every_cached_sign_in_at_once(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'users.db'}")
    try:
        Academies(engine).add("OAK", "Oakfield Primary Academy", NOW)
        people = Users(engine)
        person, token = people.add("OAK-sendco-1", Role.SENDCO, ["OAK"], NOW)
        other, other_token = people.add("OAK-dsl-1", Role.DSL, ["OAK"], NOW)
        cache = TokenCache(300.0)
        cache.put(token, person)
        cache.put(other_token, other)
        before = users_module._revocations
        people.revoke("OAK-dsl-1", NOW)
        assert users_module._revocations == before + 1
        # Both are looked up again (the cache cannot tell whose token was revoked).
        assert cache.get(other_token) is None and cache.get(token) is None
    finally:
        engine.dispose()
