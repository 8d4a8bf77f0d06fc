"""Key files an operator can lose or damage: `chronicle init` never makes a new KEK for a
database that already relies on one (both stores), a stray key file is never relied on,
and a damaged signing key or KEK file is one `error:` line naming the file, on every verb
that needs it and on `serve`, never a traceback (a supervisor would loop on it)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import create_engine, inspect, text

import api.cli
from api.bootstrap import SetupError, init_home, open_records
from api.settings import Settings
from crypto.errors import KeyEncryptionKeyError
from crypto.kek import FileKekRing
from tests.conftest import Store
from tests.factories import a_pupil


def settings_for(store: Store, home: Path) -> Settings:
    """The installation's settings: SQLite inside CHRONICLE_HOME, or the test's schema."""
    return Settings(home=home, database_url=None if store.kind == "sqlite" else store.url)


def snapshot(url: str) -> dict[str, list[str]]:
    """Every table and every row: what "nothing was written" compares."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: sorted(
                    repr([bytes(v) if isinstance(v, memoryview) else v for v in row])
                    for row in conn.execute(text(f"SELECT * FROM {table}"))
                )
                for table in inspect(conn).get_table_names()
            }
    finally:
        engine.dispose()


def populated(settings: Settings) -> str:
    """An installation with one pupil; the id of its KEK."""
    init_home(settings)
    records = open_records(settings)
    try:
        records.save(a_pupil("Kept"))
    finally:
        records.close()
    (kek,) = settings.keys_dir.glob("kek-*.json")
    return kek.name.removeprefix("kek-").removesuffix(".json")


def test_init_refuses_a_new_kek_for_a_database_with_keys_then_works_once_restored(
    store: Store, tmp_path: Path
) -> None:
    settings = settings_for(store, tmp_path / "home")
    kid = populated(settings)
    kek = settings.keys_dir / f"kek-{kid}.json"
    saved = kek.read_bytes()
    kek.unlink()
    before = snapshot(settings.store_url)

    with pytest.raises(SetupError, match=f"already relies on key-encryption key.*{kid}") as e:
        init_home(settings)
    assert "restore kek-*.json" in str(e.value) and "nothing was written" in str(e.value)
    assert list(settings.keys_dir.glob("kek-*.json")) == []  # no new key file
    assert snapshot(settings.store_url) == before  # no table changed

    kek.write_bytes(saved)
    kek.chmod(0o600)
    init_home(settings)  # the restored KEK is kept, nothing new is made
    assert [p.name for p in settings.keys_dir.glob("kek-*.json")] == [kek.name]
    records = open_records(settings)
    try:
        assert records.data_keys.ring.current().kid == kid
        assert [e.kid for e in records.data_keys.epochs()] == [kid]
        assert [e.payload["legal_given_names"] for e in records.registrations()] == ["Kept"]
    finally:
        records.close()


def test_a_stray_key_file_is_refused_then_wraps_nothing(store: Store, tmp_path: Path) -> None:
    """A wrong KEK file in place of the real one stops the start before anything is
    written (registered, it would be required for ever after the real one is back); left
    beside the restored real one, it is never used to wrap a data key."""
    settings = settings_for(store, tmp_path / "home")
    kid = populated(settings)
    real = settings.keys_dir / f"kek-{kid}.json"
    aside = tmp_path / real.name
    real.rename(aside)
    FileKekRing.create(settings.keys_dir, development=True)  # someone's "fix"
    (stray,) = settings.keys_dir.glob("kek-*.json")
    before = snapshot(settings.store_url)
    with pytest.raises(KeyEncryptionKeyError, match=f"{kid} is missing.*Restore it") as e:
        open_records(settings)
    assert "chronicle init" not in str(e.value)
    assert snapshot(settings.store_url) == before

    # The real KEK is restored and the stray, newer, left beside it (the case): the
    # stray wraps nothing — registered as retired — and new pupils stay under the real KEK.
    aside.rename(real)
    stray_kid = stray.name.removeprefix("kek-").removesuffix(".json")
    records = open_records(settings)
    try:
        late = a_pupil("Late")
        records.save(late)
        epochs = {e.kid: e for e in records.data_keys.epochs()}
        assert epochs[kid].retired_at is None and epochs[stray_kid].retired_at is not None
        assert epochs[kid].live_keys == 2 and epochs[stray_kid].live_keys == 0
        # The next rotation moves everyone to a new KEK and files the stray as retired.
        rotation = records.data_keys.rotate_epoch(datetime.now(UTC))
        assert set(rotation.retired) == {kid}
        assert not stray.exists() and (settings.keys_dir / "retired" / stray.name).exists()
    finally:
        records.close()
    records = open_records(settings)  # the real KEK's backup is all a restore needed
    try:
        assert {e.payload["legal_given_names"] for e in records.registrations()} == {
            "Kept",
            "Late",
        }
    finally:
        records.close()


# ----- the command line: one error line --------------------------------------------------


def chronicle(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], home: Path, *args: str
) -> tuple[int, str, str]:
    """Run `chronicle ARGS` in this process through the real entry point (`api.cli.main`,
    which turns operator errors into one line): exit code, stdout, stderr."""
    for name in list(os.environ):
        if name.startswith("CHRONICLE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CHRONICLE_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.setattr(sys, "argv", ["chronicle", *args])
    capsys.readouterr()
    try:
        api.cli.main()
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(result: tuple[int, str, str], *words: str) -> str:
    code, out, err = result
    assert code == 1, (out, err)
    assert "Traceback" not in out + err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def no_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve` must refuse before it listens: if it got as far as uvicorn, fail."""
    import uvicorn

    def run(*_: object, **__: object) -> None:
        raise AssertionError("serve started on a damaged key")

    monkeypatch.setattr(uvicorn, "run", run)


def test_missing_kek_message_says_restore_never_init(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    populated(Settings(home=home))
    (kek,) = (home / "keys").glob("kek-*.json")
    kek.unlink()
    for verb in (["pupils", "list"], ["keys", "rotate-kek"], ["ledger", "checkpoint"]):
        line = one_error_line(chronicle(monkeypatch, capsys, home, *verb), "restore")
        assert "init" not in line
    one_error_line(chronicle(monkeypatch, capsys, home, "init"), "already relies on")
    assert list((home / "keys").glob("kek-*.json")) == []


def test_init_never_makes_a_new_signing_key_for_a_database_with_records(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A new signing key would not match the published key nor verify the purge journal:
    `init` refuses, writes nothing, and works again once the key is restored."""
    home = tmp_path / "home"
    populated(Settings(home=home))
    path = home / "keys" / "checkpoint-signing.pem"
    saved = path.read_bytes()
    path.unlink()
    one_error_line(chronicle(monkeypatch, capsys, home, "init"), str(path), "restore it")
    assert not path.exists()
    path.write_bytes(saved)
    path.chmod(0o600)
    assert chronicle(monkeypatch, capsys, home, "init")[0] == 0
    assert path.read_bytes() == saved


def _x25519_pem() -> bytes:
    return X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


SIGNING_DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda pem: b"",
    "garbage": lambda pem: b"not a key at all\n",
    "cut short": lambda pem: pem[: len(pem) // 2],
    "another kind of key": lambda pem: _x25519_pem(),
}


@pytest.mark.parametrize("damage", list(SIGNING_DAMAGE))
def test_damaged_signing_key_is_one_error_line_on_every_verb_and_serve(
    damage: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    no_serving: None,
) -> None:
    home = tmp_path / "home"
    populated(Settings(home=home))
    path = home / "keys" / "checkpoint-signing.pem"
    path.write_bytes(SIGNING_DAMAGE[damage](path.read_bytes()))
    for verb in (["serve"], ["pupils", "list"], ["ledger", "checkpoint"], ["init"]):
        line = one_error_line(
            chronicle(monkeypatch, capsys, home, *verb), str(path), "restore it from your key"
        )
        assert "BEGIN" not in line  # nothing of the file's content is repeated


KEK_DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda body: b"",
    "not JSON": lambda body: body[: len(body) // 2],
    "no key": lambda body: b'{"kid": "x", "created_at": "2026-01-01T00:00:00+00:00"}',
    "short key": lambda body: body.replace(b'"key": "', b'"key": "00', 1)[:-2] + b"}",
}


@pytest.mark.parametrize("damage", list(KEK_DAMAGE))
def test_damaged_kek_file_is_one_error_line_on_every_verb_and_serve(
    damage: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    no_serving: None,
) -> None:
    home = tmp_path / "home"
    populated(Settings(home=home))
    (path,) = (home / "keys").glob("kek-*.json")
    before = path.read_bytes()
    path.write_bytes(KEK_DAMAGE[damage](before))
    for verb in (["serve"], ["pupils", "list"], ["keys", "rotate-kek"], ["init"]):
        one_error_line(chronicle(monkeypatch, capsys, home, *verb), str(path), "restore it")
    assert [p.name for p in (home / "keys").glob("kek-*.json")] == [path.name]  # none added
    path.write_bytes(before)  # restored from the key backup: every verb works again
    assert chronicle(monkeypatch, capsys, home, "pupils", "list")[0] == 0


def test_serve_on_a_damaged_signing_key_in_a_real_process(tmp_path: Path) -> None:
    """The same through `python -m api.cli serve`, as a supervisor runs it."""
    home = tmp_path / "home"
    init_home(Settings(home=home))
    path = home / "keys" / "checkpoint-signing.pem"
    path.write_bytes(b"")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICLE_")}
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve", "--port", "1"],
        env=environ | {"CHRONICLE_HOME": str(home), "COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    one_error_line((result.returncode, result.stdout, result.stderr), str(path))
