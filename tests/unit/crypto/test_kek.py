"""KEK port contract: the in-memory and file rings behave alike; the file ring fails closed."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest

from crypto.errors import KeyEncryptionKeyError
from crypto.kek import FileKekRing, InMemoryKekRing, KekRing


@pytest.fixture(params=["memory", "file"])
def make_ring(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], KekRing]:
    if request.param == "memory":
        return InMemoryKekRing
    return lambda: FileKekRing.create(tmp_path / "keys", development=True)


class TestKekRing:
    def test_wrap_unwrap(self, make_ring: Callable[[], KekRing]) -> None:
        ring, owner, key = make_ring(), uuid4(), os.urandom(32)
        assert ring.current().unwrap(ring.current().wrap(key, owner), owner) == key

    def test_wrapped_key_is_bound_to_its_owner(self, make_ring: Callable[[], KekRing]) -> None:
        kek = make_ring().current()
        with pytest.raises(KeyEncryptionKeyError, match="cannot unwrap"):
            kek.unwrap(kek.wrap(os.urandom(32), uuid4()), uuid4())

    def test_rotation_keeps_old_until_retired(self, make_ring: Callable[[], KekRing]) -> None:
        ring = make_ring()
        old = ring.current()
        new = ring.add_new()
        assert ring.current().kid == new.kid != old.kid
        assert ring.get(old.kid).kid == old.kid
        with pytest.raises(KeyEncryptionKeyError):
            ring.retire(new.kid)
        ring.retire(old.kid)


def test_file_ring_never_overwrites(tmp_path: Path) -> None:
    first = FileKekRing.create(tmp_path, development=True).current().kid
    assert FileKekRing.create(tmp_path, development=True).current().kid == first


def test_missing_keys_folder_says_what_to_do(tmp_path: Path) -> None:
    """Restore from the key backup; never `chronicle init`, which on a populated database
    would make a key that cannot unwrap anything and was never backed up."""
    with pytest.raises(KeyEncryptionKeyError, match="restore the keys folder") as caught:
        FileKekRing(tmp_path / "keys")
    assert "init" not in str(caught.value)


def test_loose_permissions_are_refused(tmp_path: Path) -> None:
    ring = FileKekRing.create(tmp_path, development=True)
    (path,) = tmp_path.glob("kek-*.json")
    path.chmod(0o644)
    with pytest.raises(KeyEncryptionKeyError, match="chmod 600"):
        FileKekRing(tmp_path).current()
    assert ring  # the original ring object is unaffected by later checks


def test_production_refuses_a_development_key(tmp_path: Path) -> None:
    FileKekRing.create(tmp_path, development=True)
    with pytest.raises(KeyEncryptionKeyError, match="development key"):
        FileKekRing(tmp_path, allow_development=False).current()


def test_damaged_key_file(tmp_path: Path) -> None:
    FileKekRing.create(tmp_path, development=True)
    (path,) = tmp_path.glob("kek-*.json")
    data = json.loads(path.read_text())
    data["key"] = "zz"
    path.write_text(json.dumps(data))
    with pytest.raises(KeyEncryptionKeyError, match="damaged"):
        FileKekRing(tmp_path).current()


def test_retired_keys_still_unwrap(tmp_path: Path) -> None:
    ring = FileKekRing.create(tmp_path, development=True)
    old, owner, key = ring.current(), uuid4(), os.urandom(32)
    wrapped = old.wrap(key, owner)
    ring.add_new()
    ring.retire(old.kid)
    assert (tmp_path / "retired" / f"kek-{old.kid}.json").exists()
    assert FileKekRing(tmp_path).get(old.kid).unwrap(wrapped, owner) == key
