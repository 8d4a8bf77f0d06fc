"""`chronicle projections …`: rebuild and inspect the read models; the register and census.

`register` and `census` first bring the SEND register up to date with the event log (a
single cheap query when nothing is new), so what they print is never behind the records.
The `--json` shapes are stable and documented in docs/projections.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from projections.base import Projection
from projections.catalogue import build_projections
from projections.census import CensusReader
from projections.register import RegisterQueryError, SendRegister
from projections.runner import ProjectionError, ProjectionRunner

if TYPE_CHECKING:
    from api.application import PupilRecords

projections_app = typer.Typer(no_args_is_help=True, help="Read models rebuilt from the events.")

T = TypeVar("T")
_out = Console(soft_wrap=True)
_err = Console(stderr=True, soft_wrap=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@projections_app.command("rebuild")
def rebuild(
    name: Annotated[
        str | None, typer.Argument(help="One projection (see `status`); all when left out.")
    ] = None,
) -> None:
    """Drop the read models and replay every event into them, with progress."""
    from api.cli_common import records

    with records() as app_:
        runner = _runner(app_, build_projections(app_.policy))
        names = [name] if name else None
        started = time.perf_counter()
        with Progress(
            TextColumn("Replaying events"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=_err,
            transient=True,
        ) as bar:
            task = bar.add_task("rebuild", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            count = _guarded(lambda: runner.rebuild(names, progress))
        elapsed = max(time.perf_counter() - started, 1e-9)
    rebuilt = name or ", ".join(p.name for p in runner.projections)
    rate = count / elapsed
    _out.print(
        f"Rebuilt {rebuilt}: {count:,} events in {elapsed:.1f} s ({rate:,.0f} events/s).",
        highlight=False,
    )


@projections_app.command("status")
def status(as_json: JsonOption = False) -> None:
    """Each read model's position in the event log and how many events it is behind."""
    from api.cli_common import records

    with records() as app_:
        statuses = _runner(app_, build_projections(app_.policy)).status()
    if as_json:
        _out.print_json(
            json.dumps(
                [
                    {"name": s.name, "position": s.position, "head": s.head, "lag": s.lag}
                    for s in statuses
                ]
            )
        )
        return
    table = Table("projection", "position", "head", "behind by (events)")
    for s in statuses:
        table.add_row(s.name, str(s.position), str(s.head), str(s.lag))
    _out.print(table)


@projections_app.command("register")
def register(
    academy: Annotated[str | None, typer.Option(help="Only this academy (code).")] = None,
    status: Annotated[
        str | None, typer.Option(help="none, monitoring, sen_support or ehcp.")
    ] = None,
    need: Annotated[
        str | None, typer.Option(help="A census need code (primary or secondary), e.g. SLCN.")
    ] = None,
    census_code: Annotated[str | None, typer.Option(help="N, K or E.")] = None,
    sort: Annotated[str, typer.Option(help="name, status or since.")] = "name",
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many rows.")] = None,
    include_left: Annotated[
        bool, typer.Option(help="Also pupils who have left the trust.")
    ] = False,
    as_json: JsonOption = False,
    by: Annotated[str, typer.Option(help="Your staff id (recorded as the reader).")] = "",
) -> None:
    """The SEND register: each pupil's academy, status, needs, since when, key worker (read
    as a trust-wide SENDCo; each pupil listed is recorded as read)."""
    from api.cli_common import chronicle, operator
    from domain.values import Role

    if sort not in ("name", "status", "since"):
        raise typer.BadParameter(f"sort by name, status or since, not {sort!r}")
    with chronicle() as app_:
        try:
            page = app_.reads.register(
                operator(by, Role.SENDCO),
                academy=academy,
                status=status,
                need=need and need.upper(),
                census_code=census_code,
                include_left=include_left,
                sort=sort,  # type: ignore[arg-type]
                limit=limit or 1_000_000,
                purpose="projections register",
            )
        except RegisterQueryError as e:
            raise typer.BadParameter(str(e)) from None
        known = page.academies if not page.rows and academy else []
    if as_json:
        _out.print_json(json.dumps([row.as_json() for row in page.rows]))
        return
    if known and academy not in known:
        _out.print(f"No academy {academy!r} on the register; academies: {', '.join(known)}")
        return
    table = Table("name", "UPN", "academy", "year", "status", "needs", "since", "key worker")
    for r in page.rows:
        flags = f" ({', '.join(r.sub_flags)})" if r.sub_flags else ""
        needs = ", ".join(filter(None, [r.primary_need, *r.secondary_needs]))
        table.add_row(
            r.name or "(purged)",
            r.upn or "",
            r.academy or f"left {r.left_on}",
            "" if r.year_group is None else str(r.year_group),
            f"{r.status} [{r.census_code}]{flags}",
            needs,
            r.since.isoformat(),
            r.key_worker or "",
        )
    _out.print(table)
    shown = len(page.rows)
    _out.print(f"{shown} of {page.total} pupils" if shown < page.total else f"{shown} pupils")


@projections_app.command("census")
def census(
    as_of: Annotated[
        str | None, typer.Option(help="Census day (YYYY-MM-DD); today's records if left out.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Census counts per academy: N, K and E, and K and E by primary need."""
    from api.cli_common import records

    day = _day(as_of)
    with records() as app_:
        _guarded(_runner(app_, [SendRegister()]).catch_up)
        returns = CensusReader(app_).by_academy(day)
    if as_json:
        document: dict[str, Any] = {
            "as_of": None if day is None else day.isoformat(),
            "academies": [r.as_json() for r in returns],
        }
        _out.print_json(json.dumps(document))
        return
    _out.print(f"Census counts {'as of ' + day.isoformat() if day else 'as recorded today'}")
    for r in returns:
        table = Table(f"{r.academy}: primary need", "K", "E", title=None)
        for need_code, by_code in r.by_need.items():
            table.add_row(need_code, str(by_code["K"]), str(by_code["E"]))
        table.add_row("[bold]total[/bold]", str(r.totals["K"]), str(r.totals["E"]))
        _out.print(table)
        _out.print(f"{r.academy}: N (on Chronicle, no K or E) {r.totals['N']}")


def _runner(app_: PupilRecords, projections: list[Projection]) -> ProjectionRunner:
    return _guarded(lambda: ProjectionRunner(app_, projections))


def _guarded(call: Callable[[], T]) -> T:
    """Run `call`, turning a projection error into the CLI's one-line failure (exit 1).

    Printed here rather than raised as api.cli's CommandFailed: under `python -m api.cli`
    that module is loaded twice, and the copy this module would import is not the one
    whose `main` catches."""
    try:
        return call()
    except ProjectionError as e:
        _err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(1) from None


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date: use YYYY-MM-DD") from None
