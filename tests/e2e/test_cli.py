"""The `chronicle` command as an operator runs it: real processes, real stores, clear errors."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Store


def run(
    home: Path, *args: str, db: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICLE_")}
    environ |= {"CHRONICLE_HOME": str(home), "COLUMNS": "200"} | env
    if db:
        environ["CHRONICLE_DATABASE_URL"] = db
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args], env=environ, capture_output=True, text=True
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def test_end_to_end_on_both_stores(tmp_path: Path, store: Store) -> None:
    home = tmp_path / "home"
    db = None if store.kind == "sqlite" else store.url
    ok(run(home, "init", db=db))
    assert stat.S_IMODE((home / "keys").stat().st_mode) == 0o700
    for key_file in (home / "keys").iterdir():
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "Demo trust written: 24 pupils" in ok(run(home, "demo", "--pupils", "24", db=db))
    pupils = _json(run(home, "pupils", "list", "--json", db=db))
    assert len(pupils) == 24 and {p["academy"] for p in pupils} == {"OAK", "RIV", "HTH", "MDW"}
    oak = _json(run(home, "pupils", "list", "--academy", "OAK", "--json", db=db))
    assert len(oak) == 5  # six registered at OAK; one has since transferred to HTH
    first = pupils[0]
    by_id = _json(run(home, "chronology", first["pupil_id"], "--json", db=db))
    by_upn = _json(run(home, "chronology", first["upn"], "--json", db=db))
    assert by_id == by_upn and by_id[0]["type"] == "PupilRegistered"
    happened = [(e["happened_on"], e["recorded_at"]) for e in by_id]
    assert happened == sorted(happened)
    text = ok(run(home, "chronology", first["pupil_id"], db=db))
    assert first["family_name"] in text and "happened" in text and "recorded" in text
    refused(run(home, "demo", db=db), "already holds pupils")


def test_demo_is_deterministic_per_seed(tmp_path: Path) -> None:
    homes = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    for home, seed in zip(homes, ("7", "7", "8"), strict=True):
        ok(run(home, "init"))
        ok(run(home, "demo", "--pupils", "12", "--seed", seed))
    lists = [_json(run(home, "pupils", "list", "--json")) for home in homes]
    assert lists[0] == lists[1] != lists[2]
    pupil = lists[0][3]["pupil_id"]
    chronologies = [_json(run(home, "chronology", pupil, "--json")) for home in homes[:2]]
    strip = [[{k: v for k, v in e.items() if k != "commitment"} for e in c] for c in chronologies]
    assert strip[0] == strip[1]
    assert chronologies[0][0]["commitment"] != chronologies[1][0]["commitment"]  # fresh salts


def test_init_never_overwrites_keys(tmp_path: Path) -> None:
    ok(run(tmp_path, "init"))
    before = {p.name: p.read_bytes() for p in (tmp_path / "keys").iterdir()}
    assert "kept the existing keys" in ok(run(tmp_path, "init"))
    assert {p.name: p.read_bytes() for p in (tmp_path / "keys").iterdir()} == before


def test_no_home(tmp_path: Path) -> None:
    refused(run(tmp_path / "missing", "pupils", "list"), "run `chronicle init` first")


def test_missing_key_file(tmp_path: Path) -> None:
    ok(run(tmp_path, "init"))
    for kek in (tmp_path / "keys").glob("kek-*.json"):
        kek.unlink()
    refused(run(tmp_path, "pupils", "list"), "no key-encryption key")


def test_wrong_key_file_changes_nothing(tmp_path: Path) -> None:
    ok(run(tmp_path, "init"))
    ok(run(tmp_path, "demo", "--pupils", "3"))
    db_before = (tmp_path / "chronicle.db").read_bytes()
    (kek,) = (tmp_path / "keys").glob("kek-*.json")
    data = json.loads(kek.read_text())
    data["key"] = secrets.token_hex(32)
    kek.write_text(json.dumps(data))
    refused(run(tmp_path, "pupils", "list"), "does not match this database")
    refused(run(tmp_path, "demo"), "does not match this database")
    assert (tmp_path / "chronicle.db").read_bytes() == db_before


def test_unknown_pupil(tmp_path: Path) -> None:
    ok(run(tmp_path, "init"))
    refused(run(tmp_path, "chronology", "00000000-0000-4000-8000-000000000000"), "no pupil with id")
    refused(run(tmp_path, "chronology", "H801200001001"), "no pupil with id")


def test_unreachable_database(tmp_path: Path) -> None:
    ok(run(tmp_path, "init"))
    result = run(tmp_path, "pupils", "list", db="postgresql://postgres:s3cret@127.0.0.1:1/x")
    refused(result, "cannot reach the database at postgresql+psycopg2://postgres:***@127.0.0.1:1/x")
    assert "s3cret" not in result.stderr


def test_bad_setting(tmp_path: Path) -> None:
    refused(run(tmp_path, "pupils", "list", CHRONICLE_ENV="staging"), "CHRONICLE_ENV")


def test_production_refuses_development_keys(tmp_path: Path) -> None:
    ok(run(tmp_path, "init"))
    refused(run(tmp_path, "pupils", "list", CHRONICLE_ENV="production"), "development key")


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run(tmp_path, "chronology").returncode == 2


def test_keys_rotate_then_old_kek_not_needed(tmp_path: Path) -> None:
    ok(run(tmp_path, "init"))
    ok(run(tmp_path, "demo", "--pupils", "5"))
    before = _json(run(tmp_path, "pupils", "list", "--json"))
    assert "re-wrapped 5 data keys" in ok(run(tmp_path, "keys", "rotate"))
    retired = tmp_path / "keys" / "retired"
    assert len(list(retired.iterdir())) == 1
    for f in retired.iterdir():
        f.unlink()  # the old KEK is gone for good
    assert _json(run(tmp_path, "pupils", "list", "--json")) == before
    ok(run(tmp_path, "chronology", before[0]["pupil_id"]))


@pytest.mark.parametrize("args", [["--help"], ["pupils", "--help"], ["keys", "--help"]])
def test_help(tmp_path: Path, args: list[str]) -> None:
    assert "Usage" in ok(run(tmp_path, *args))


def test_policy_is_chosen_by_name_or_path_and_validated(tmp_path: Path) -> None:
    ok(run(tmp_path, "init", CHRONICLE_POLICY="aspire"))
    refused(run(tmp_path, "pupils", "list", CHRONICLE_POLICY="atlantis"), "no such policy")
    bad = tmp_path / "bad.toml"
    bad.write_text('trust = "X"\n[register]\nstatuses = ["none", "purple"]\n')
    refused(run(tmp_path, "pupils", "list", CHRONICLE_POLICY=str(bad)), "register")
