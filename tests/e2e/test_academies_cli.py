"""`chronicle academies …` and `chronicle users add` as an operator runs them: the trust's
academies are a closed list, and trust-wide is asked for explicitly (docs/cli.md)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import Store
from tests.e2e.test_cli import _json, ok, refused, run


def test_a_production_home_lists_its_academies_and_users_name_only_those(
    tmp_path: Path, store: Store
) -> None:
    home = tmp_path / "home"
    db = None if store.kind == "sqlite" else store.url
    prod = {"CHRONICLE_ENV": "production"}
    ok(run(home, "init", db=db, **prod))
    assert _json(run(home, "academies", "list", "--json", db=db, **prod)) == []
    # Nothing listed: fail closed, whatever the code.
    refused(
        run(home, "users", "add", "OAK-sendco-1", "--role", "sendco", "--academy", "OAK", db=db),
        "no academies are configured: add them with `chronicle academies add",
    )
    refused(
        run(home, "pupils", "list", "--academy", "OAK", db=db, **prod),
        "no academies are configured",
    )
    added = _json(
        run(
            home,
            *("academies", "add", "oak", "--name", "Oakfield Primary Academy"),
            *("--urn", "138291", "--dfe-number", "873/2041", "--json"),
            db=db,
        )
    )
    assert (added["code"], added["urn"], added["dfe_number"]) == ("OAK", "138291", "873/2041")
    ok(run(home, "academies", "add", "ELM", "--name", "Elmwood Academy", db=db))
    refused(run(home, "academies", "add", "OAK", "--name", "Again", db=db), "already listed")
    refused(run(home, "academies", "add", ",", "--name", "Comma", db=db), "not an academy code")
    ok(run(home, "academies", "rename", "ELM", "--name", "Elmwood Church Academy", db=db))
    listed = _json(run(home, "academies", "list", "--json", db=db))
    assert [(a["code"], a["name"]) for a in listed] == [
        ("ELM", "Elmwood Church Academy"),
        ("OAK", "Oakfield Primary Academy"),
    ]
    assert "Elmwood Church Academy" in ok(run(home, "academies", "list", db=db))

    def add(*args: str) -> subprocess.CompletedProcess[str]:
        return run(home, "users", "add", *args, db=db)

    refused(add("T1", "--role", "teacher", "--academy", ","), "',' is not an academy code")
    refused(add("T1", "--role", "teacher", "--academy", " "), "is not an academy code")
    refused(add("T1", "--role", "teacher", "--academy", "OAK,ELM"), "one code per --academy")
    refused(
        add("T1", "--role", "teacher", "--academy", "ZZZ"),
        "no academy ZZZ in this trust; academies: ELM, OAK",
    )
    refused(add("T1", "--role", "teacher", "--trust-wide"), "a teacher cannot be trust-wide")
    refused(add("T1", "--role", "teacher"), "at least one --academy")
    refused(add("D1", "--role", "dpo"), "or --trust-wide for the whole trust")
    refused(add("D1", "--role", "dpo", "--trust-wide", "--academy", "OAK"), "not both")
    teacher = _json(add("OAK-teacher-1", "--role", "teacher", "--academy", "OAK", "--json"))
    assert (teacher["academies"], teacher["trust_wide"]) == (["OAK"], False)
    dpo = _json(add("TRUST-dpo-1", "--role", "dpo", "--trust-wide", "--json"))
    assert (dpo["academies"], dpo["trust_wide"]) == ([], True)
    assert "the whole trust" in ok(add("TRUST-dsl-1", "--role", "dsl", "--trust-wide"))
    everyone = json.loads(ok(run(home, "users", "list", "--json", db=db)))
    assert {u["name"]: u["trust_wide"] for u in everyone} == {
        "OAK-teacher-1": False,
        "TRUST-dpo-1": True,
        "TRUST-dsl-1": True,
    }
    refused(
        run(home, "pupils", "list", "--academy", "ZZZ", db=db, **prod),
        "no academy ZZZ in this trust; academies: ELM, OAK",
    )


def test_a_development_home_starts_with_the_demo_trusts_academies(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(run(home, "init"))
    codes = {a["code"] for a in _json(run(home, "academies", "list", "--json"))}
    assert codes == {"OAK", "RIV", "HTH", "MDW"}
    ok(run(home, "demo", "--pupils", "4"))  # the demo's academies are already there: kept
    listed = _json(run(home, "academies", "list", "--json"))
    assert {a["code"]: a["name"] for a in listed}["RIV"] == "Riverside Academy"
