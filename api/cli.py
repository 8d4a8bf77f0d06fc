"""The `chronicle` command line: the stable surface documented in docs/cli.md.

Exit codes: 0 success; 1 refused or failed (the message says why and what to do);
2 bad usage. Operator mistakes never print a stack trace.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from api.application import PupilRecords, RecordEntry, UnknownPupil
from api.bootstrap import SetupError, init_home, open_records
from api.settings import SettingsError, load_settings
from crypto.errors import CryptoError
from domain.errors import DomainError
from domain.policy import PolicyError
from domain.values import year_group_on

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Chronicle: SEND records.",
)
pupils_app = typer.Typer(no_args_is_help=True, help="Pupils on the trust's records.")
keys_app = typer.Typer(no_args_is_help=True, help="Key management.")
app.add_typer(pupils_app, name="pupils")
app.add_typer(keys_app, name="keys")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

_OPERATOR_ERRORS = (SetupError, SettingsError, CryptoError, DomainError, PolicyError)


class CommandFailed(Exception):
    """A command refused to go on; the message is for the operator."""


@contextmanager
def records() -> Iterator[PupilRecords]:
    app_ = open_records(load_settings())
    try:
        yield app_
    finally:
        app_.close()


@app.command()
def init() -> None:
    """Create CHRONICLE_HOME: database, key-encryption key and signing key (never overwritten)."""
    report = init_home(load_settings())
    verb = "created" if report.created_keys else "kept the existing"
    out.print(f"Chronicle home: {report.home}")
    out.print(f"Database:       {report.database}")
    out.print(f"Keys:           {verb} keys in {report.home / 'keys'} (back them up; mode 0600)")
    out.print(f"Public key:     {report.public_key}")


@app.command()
def demo(
    pupils: Annotated[int, typer.Option(min=1, max=100_000, help="How many pupils.")] = 200,
    seed: Annotated[int, typer.Option(help="Same seed, same trust.")] = 2026,
) -> None:
    """Fill the store with a deterministic synthetic trust (invented pupils only)."""
    from api.demo import generate

    with records() as app_:
        if next(app_.registrations(), None) is not None:
            raise CommandFailed(
                "this store already holds pupils: run the demo on a new CHRONICLE_HOME"
            )
        summary = generate(app_, pupils=pupils, seed=seed)
    out.print(
        f"Demo trust written: {summary.pupils} pupils, {summary.events} entries, "
        f"academies {', '.join(summary.academies)}."
    )
    if summary.first_pupil:
        out.print(f"Try: chronicle chronology {summary.first_pupil}")


@pupils_app.command("list")
def pupils_list(
    academy: Annotated[str | None, typer.Option(help="Only this academy's pupils.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List pupils (id, UPN, name, academy, year group)."""
    with records() as app_:
        rows = [_pupil_row(e) for e in app_.registrations()]
    if academy:
        rows = [r for r in rows if r["academy"] == academy]
    rows.sort(key=lambda r: (r["academy"], r["family_name"], r["given_names"]))
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("UPN", "name", "academy", "year", "pupil id")
    for r in rows:
        table.add_row(r["upn"], r["name"], r["academy"], str(r["year_group"]), r["pupil_id"])
    out.print(table)
    out.print(f"{len(rows)} pupils")


@app.command()
def chronology(
    pupil: Annotated[str, typer.Argument(help="Pupil id (UUID) or UPN.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """A pupil's whole record, every entry with both dates, in the order it happened."""
    with records() as app_:
        entries = app_.entries(_resolve_pupil(app_, pupil))
    ordered = sorted(entries, key=lambda e: (e.payload["happened_on"], e.payload["recorded_at"]))
    if as_json:
        out.print_json(json.dumps([_entry_json(e) for e in ordered]))
        return
    first = entries[0].payload
    out.print(
        f"[bold]{first['legal_given_names']} {first['legal_family_name']}[/bold]  "
        f"UPN {first['upn']}  {first['academy']}  pupil {entries[0].pupil_id}"
    )
    corrected = {e.payload["corrects_seq"]: e.seq for e in entries if e.type == "EntryCorrected"}
    for e in ordered:
        by = e.payload["recorded_by"]
        recorded = e.payload["recorded_at"][:16].replace("T", " ")
        note = ""
        if e.seq in corrected:
            note = f"  [yellow](corrected by #{corrected[e.seq]})[/yellow]"
        out.print(
            f"\n[bold]#{e.seq}[/bold] {e.type}  happened {e.payload['happened_on']}  "
            f"recorded {recorded}  by {by['staff_id']} ({by['role']}){note}",
            highlight=False,
        )
        for line in _details(e):
            out.print(f"    {line}", highlight=False, markup=False)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-wrap every pupil's data key under a new key-encryption key; events are untouched."""
    with records() as app_:
        kid, count = app_.data_keys.rotate(app_.clock())
    out.print(f"New key-encryption key {kid}; re-wrapped {count} data keys.")
    out.print("The old key file moved to keys/retired/: keep it while older backups exist.")


def _resolve_pupil(app_: PupilRecords, text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        pass
    for entry in app_.registrations():
        if entry.payload["upn"] == text.upper():
            return entry.pupil_id
    raise UnknownPupil(text)


def _pupil_row(entry: RecordEntry) -> dict[str, Any]:
    p = entry.payload
    name = f"{p['preferred_name'] or p['legal_given_names']} {p['legal_family_name']}"
    return {
        "pupil_id": str(entry.pupil_id),
        "upn": p["upn"],
        "name": name,
        "given_names": p["legal_given_names"],
        "family_name": p["legal_family_name"],
        "date_of_birth": p["date_of_birth"],
        "academy": p["academy"],
        "year_group": year_group_on(
            p["year_group"], date.fromisoformat(p["happened_on"]), date.today()
        ),
    }


def _entry_json(e: RecordEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "type": e.type,
        "happened_on": e.payload["happened_on"],
        "recorded_at": e.payload["recorded_at"],
        "recorded_by": e.payload["recorded_by"],
        "payload": e.payload,
        "commitment": e.commitment.hex(),
    }


_SKIP = {"happened_on", "recorded_at", "recorded_by"}


def _details(e: RecordEntry) -> list[str]:
    lines = []
    for key, value in e.payload.items():
        if key in _SKIP or value in (None, "", []):
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        lines.append(f"{key.replace('_', ' ')}: {shown}")
    return lines


def main() -> None:
    """Entry point: run the command, turning operator errors into one clear line."""
    try:
        app(standalone_mode=True)
    except (*_OPERATOR_ERRORS, CommandFailed) as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
