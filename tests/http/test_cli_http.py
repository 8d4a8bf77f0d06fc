"""`chronicle users add|revoke|list` against an initialised installation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from api.bootstrap import init_home
from api.cli_http import cli
from api.settings import load_settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHRONICLE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHRONICLE_DATABASE_URL", raising=False)
    init_home(load_settings())
    return tmp_path / "home"


def test_add_prints_the_token_once_and_stores_only_its_hash(home: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(
        cli(), ["users", "add", "OAK-sendco-2", "--role", "sendco", "--academy", "OAK", "--json"]
    )
    assert added.exit_code == 0, added.output
    token = json.loads(added.output)["token"]
    engine = create_engine(f"sqlite:///{home / 'chronicle.db'}")
    with engine.connect() as conn:
        dump = "".join(str(r) for r in conn.execute(text("SELECT * FROM api_users")))
    engine.dispose()
    assert token not in dump
    listed = runner.invoke(cli(), ["users", "list", "--json"])
    assert "token" not in listed.output and json.loads(listed.output)[0]["academies"] == ["OAK"]
    assert runner.invoke(cli(), ["users", "revoke", "OAK-sendco-2"]).exit_code == 0
    assert json.loads(runner.invoke(cli(), ["users", "list", "--json"]).output)[0]["revoked_at"]


def test_a_teacher_must_name_an_academy(home: Path) -> None:
    refused = CliRunner().invoke(cli(), ["users", "add", "T1", "--role", "teacher"])
    assert refused.exit_code == 1
    assert "at least one --academy" in refused.output


def test_unknown_role_is_refused_with_the_list(home: Path) -> None:
    refused = CliRunner().invoke(cli(), ["users", "add", "X", "--role", "head"])
    assert refused.exit_code == 1 and "trust_admin" in refused.output
