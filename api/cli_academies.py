"""`chronicle academies add|rename|list`: the trust's closed list of academies.

Every academy code Chronicle accepts (users' scopes, registrations, transfers, listing
filters) must be listed here (docs/operations.md, "The trust's academies"). The list lives
in the installation's database and needs no keys (`open_academies`, api/bootstrap.py).
An academy is never deleted: pupils and users keep referring to its code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.academies import Academies, AcademyError
from api.bootstrap import open_academies
from api.settings import load_settings

academies_app = typer.Typer(no_args_is_help=True, help="The trust's academies (a closed list).")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@contextmanager
def _academies() -> Iterator[Academies]:
    settings = load_settings()
    if not settings.home.resolve().is_dir() and settings.database_url is None:
        _fail(f"CHRONICLE_HOME {settings.home.resolve()} does not exist: run `chronicle init`")
    academies, close = open_academies(settings)
    try:
        yield academies
    except AcademyError as e:
        _fail(str(e))
    finally:
        close()


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(1)


@academies_app.command("add")
def academies_add(
    code: Annotated[str, typer.Argument(help="The academy's code, e.g. OAK (capitals, digits).")],
    name: Annotated[str, typer.Option(help="Its name, e.g. 'Oakfield Primary Academy'.")],
    urn: Annotated[str | None, typer.Option(help="Its DfE URN (six digits).")] = None,
    dfe_number: Annotated[
        str | None, typer.Option(help="Its DfE number: LA code/establishment, e.g. 873/2041.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List an academy of the trust: users, pupils and transfers may then name its code."""
    with _academies() as academies:
        academy = academies.add(code, name, datetime.now(UTC), urn=urn, dfe_number=dfe_number)
    if as_json:
        out.print_json(json.dumps(academy.as_json()))
        return
    out.print(f"Added academy {academy.code} ({academy.name}).", highlight=False)


@academies_app.command("rename")
def academies_rename(
    code: Annotated[str, typer.Argument(help="A listed academy's code.")],
    name: Annotated[str, typer.Option(help="Its new name.")],
    urn: Annotated[str | None, typer.Option(help="Its DfE URN, if it changed.")] = None,
    dfe_number: Annotated[str | None, typer.Option(help="Its DfE number, if it changed.")] = None,
) -> None:
    """Change a listed academy's name (its code never changes: records refer to it)."""
    with _academies() as academies:
        academy = academies.rename(code, name, urn=urn, dfe_number=dfe_number)
    out.print(f"Academy {academy.code} is now {academy.name}.", highlight=False)


@academies_app.command("list")
def academies_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The trust's academies: code, name, URN, DfE number."""
    with _academies() as academies:
        everyone = academies.everyone()
    if as_json:
        out.print_json(json.dumps([a.as_json() for a in everyone]))
        return
    if not everyone:
        out.print("No academies are listed: add them with `chronicle academies add`.")
        return
    table = Table("code", "name", "URN", "DfE number", "added")
    for a in everyone:
        table.add_row(
            a.code, a.name, a.urn or "", a.dfe_number or "", a.created_at.date().isoformat()
        )
    out.print(table)
