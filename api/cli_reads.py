"""Read-model verbs for SENDCos, DSLs and DPOs (deadlines, safeguarding cross-references,
the access log).

Each verb first brings the read models up to date (`catch_up`), then reads them. Tables
and `--json` hold ids, codes and dates only; the text output adds pupils' names, read from
their encrypted registration entries for the people who asked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from api.application import PupilRecords
from api.bootstrap import open_records
from api.settings import load_settings
from crypto.errors import KeyShredded
from projections.access_log import access_log as read_access_log
from projections.catalogue import build_projections
from projections.crossrefs import awaiting_decision, cross_references
from projections.deadlines import Deadline, due_deadlines
from projections.runner import ProjectionRunner

reads_app = typer.Typer(help="Read models for SENDCos and DSLs.")
out = Console(soft_wrap=True)

DEFAULT_WITHIN_DAYS = 28


@contextmanager
def caught_up() -> Iterator[PupilRecords]:
    """The installation's records, with every read model brought up to date first."""
    records = open_records(load_settings())
    try:
        catch_up(records)
        yield records
    finally:
        records.close()


def catch_up(records: PupilRecords) -> None:
    ProjectionRunner(records, build_projections(records.policy)).catch_up()


@reads_app.command()
def deadlines(
    academy: Annotated[str | None, typer.Option(help="Only this academy (code).")] = None,
    person: Annotated[
        str | None, typer.Option(help="Only deadlines this staff id is responsible for.")
    ] = None,
    as_of: Annotated[
        datetime | None,
        typer.Option("--as-of", formats=["%Y-%m-%d"], help="The day to judge by (default today)."),
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue deadlines.")] = False,
    within: Annotated[
        int, typer.Option(min=0, help="Also those due within this many days.")
    ] = DEFAULT_WITHIN_DAYS,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Statutory and local deadlines due or overdue, per the trust's policy."""
    day = as_of.date() if as_of else date.today()
    with caught_up() as records:
        found = due_deadlines(
            records,
            as_of=day,
            academy=academy,
            person=person,
            overdue_only=overdue,
            within_days=within,
        )
        if as_json:
            out.print_json(json.dumps([d.as_json() for d in found]))
            return
        names = pupil_names(records, (d.pupil_id for d in found))
    table = Table("due", "status", "what", "pupil", "academy", "responsible", "entry")
    for d in found:
        table.add_row(
            d.due_on.isoformat(),
            _status(d),
            d.what + (f" ({d.detail.replace('_', ' ')})" if d.detail else ""),
            names[d.pupil_id],
            d.academy,
            d.responsible,
            f"#{d.opened_seq}",
        )
    out.print(table)
    late = sum(d.status == "overdue" for d in found)
    out.print(f"{len(found)} deadlines as of {day}: {late} overdue", highlight=False)


@reads_app.command()
def safeguarding(
    academy: Annotated[str | None, typer.Option(help="Only pupils now at this academy.")] = None,
    awaiting: Annotated[
        bool,
        typer.Option(
            "--awaiting-decision", help="Pupils with SEND concerns no DSL has decided on yet."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The DSL's index of safeguarding cross-references (CPOMS log ids, never the detail)."""
    with caught_up() as records:
        if awaiting:
            waiting = awaiting_decision(records, academy=academy)
            if as_json:
                out.print_json(json.dumps([w.as_json() for w in waiting]))
                return
            names = pupil_names(records, (w.pupil_id for w in waiting))
            table = Table("since", "pupil", "academy", "concerns", "raised by")
            for w in waiting:
                concerns = ", ".join(f"#{seq}" for seq in w.concern_seqs)
                table.add_row(
                    w.first_raised_on.isoformat(),
                    names[w.pupil_id],
                    w.academy,
                    concerns,
                    ", ".join(w.raised_by),
                )
            out.print(table)
            out.print(f"{len(waiting)} pupils with SEND concerns awaiting a DSL decision")
            return
        found = cross_references(records, academy=academy)
        if as_json:
            out.print_json(json.dumps([c.as_json() for c in found]))
            return
        names = pupil_names(records, (c.pupil_id for c in found))
    table = Table(
        "added", "pupil", "academy", "CPOMS log", "added by", "DSL decision", "decided by"
    )
    for c in found:
        corrected = f" (corrected by #{c.corrected_by})" if c.corrected_by else ""
        table.add_row(
            c.added_on.isoformat(),
            names[c.pupil_id],
            c.academy,
            c.cpoms_log_id + corrected,
            f"{c.added_by} ({c.added_role})",
            c.dsl_decision.replace("_", " "),
            c.decided_by or "-",
        )
    out.print(table)
    out.print(f"{len(found)} cross-references")


@reads_app.command("access-log")
def access_log(
    pupil: Annotated[
        str | None, typer.Option(help="Only reads of this pupil (pupil id or UPN).")
    ] = None,
    staff: Annotated[str | None, typer.Option(help="Only reads by this staff id.")] = None,
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Only reads on or after this day."),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Only reads on or before this day."),
    ] = None,
    academy: Annotated[
        str | None, typer.Option(help="Only reads of pupils then at this academy (code).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the most recent N reads.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Who read which pupil's records, when, what and for what purpose (oldest first)."""
    from api.cli import resolve_pupil

    with caught_up() as records:
        pupil_id = resolve_pupil(records, pupil) if pupil is not None else None
        found = read_access_log(
            records,
            pupil=pupil_id,
            staff=staff,
            since=since.date() if since else None,
            until=until.date() if until else None,
            academy=academy,
            limit=limit,
        )
        if as_json:
            out.print_json(json.dumps([a.as_json() for a in found]))
            return
        names = pupil_names(records, (a.pupil_id for a in found))
    table = Table("when (UTC)", "pupil", "academy", "read by", "what", "purpose")
    for a in found:
        table.add_row(
            a.recorded_at[:16].replace("T", " "),
            names[a.pupil_id],
            a.academy or "-",
            f"{a.staff_id} ({a.role})",
            a.detail or a.what,
            a.purpose or "-",
        )
    out.print(table)
    out.print(f"{len(found)} reads", highlight=False)


def pupil_names(records: PupilRecords, pupil_ids: Iterable[UUID]) -> dict[UUID, str]:
    """Each pupil's name and UPN, from the registration entry alone (one decryption each)."""
    names: dict[UUID, str] = {}
    chosen = list(dict.fromkeys(pupil_ids))
    records.data_keys.prefetch(chosen)  # one query for the keys, not one per pupil
    for pupil_id in chosen:
        first = records.recorder.select_events(pupil_id, lte=1)
        try:
            p = json.loads(records.sealing_mapper.committed(first[0]).payload)
        except KeyShredded:
            names[pupil_id] = f"{pupil_id} (purged)"
            continue
        given = p["preferred_name"] or p["legal_given_names"]
        names[pupil_id] = f"{given} {p['legal_family_name']} ({p['upn']})"
    return names


def _status(d: Deadline) -> str:
    if d.status == "overdue":
        return f"[red]overdue {-d.days} d[/red]"
    return "[yellow]due today[/yellow]" if d.days == 0 else f"due in {d.days} d"
