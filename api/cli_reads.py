"""Read-model verbs for SENDCos, DSLs and DPOs (deadlines, safeguarding cross-references,
the access log).

Each verb first brings the read models up to date (`catch_up`), then reads them. Tables
and `--json` hold ids, codes and dates only; the text output adds pupils' names, read from
their encrypted registration entries for the people who asked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from api.app.queries import Listing
from api.app.service import Chronicle
from api.cli_common import CommandFailed, chronicle, operator, resolve_pupil
from domain.errors import PupilPurged
from domain.values import Role
from projections.deadlines import Deadline

reads_app = typer.Typer(help="Read models for SENDCos and DSLs.")
out = Console(soft_wrap=True)

DEFAULT_WITHIN_DAYS = 28
_ALL = 1_000_000  # the command line lists everything that matches
By = Annotated[str, typer.Option("--by", help="Your staff id (recorded as the reader).")]


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
    by: By = "",
) -> None:
    """Statutory and local deadlines due or overdue, per the trust's policy (read as a
    trust-wide SENDCo; each pupil listed is recorded as read)."""
    day = as_of.date() if as_of else date.today()
    with chronicle() as app:
        listing = app.reads.deadlines(
            operator(by, Role.SENDCO),
            academy=academy,
            person=person,
            overdue=overdue,
            within_days=within,
            as_of=day,
            limit=_ALL,
        )
    found = listing.rows
    if as_json:
        out.print_json(json.dumps([d.as_json() for d in found]))
        return
    names = pupil_names(listing)
    # The school's own steps first; the LA's statutory clocks apart (its lateness is
    # evidence for a complaint, not the SENDCo's work).
    school = [d for d in found if d.party == "school"]
    la = [d for d in found if d.party == "local_authority"]
    for rows, title in ((school, None), (la, "The local authority's steps")):
        if title is not None and not rows:
            continue
        table = Table("due", "status", "what", "pupil", "academy", "responsible", "entry")
        table.title = title
        for d in rows:
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
    late = sum(d.status == "overdue" for d in school)
    la_late = sum(d.status == "overdue" for d in la)
    out.print(
        f"{len(found)} deadlines as of {day}: {late} overdue"
        + (f"; the local authority's: {len(la)}, {la_late} overdue" if la else ""),
        highlight=False,
    )


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
    by: By = "",
) -> None:
    """The DSL's index of safeguarding cross-references (CPOMS log ids, never the detail);
    read as a trust-wide DSL, each pupil listed recorded as read."""
    caller = operator(by, Role.DSL)
    with chronicle() as app:
        if awaiting:
            listing_w = app.reads.awaiting_decision(caller, academy, limit=_ALL)
            waiting = listing_w.rows
            if as_json:
                out.print_json(json.dumps([w.as_json() for w in waiting]))
                return
            names = pupil_names(listing_w)
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
        listing_x = app.reads.cross_references(caller, academy, limit=_ALL)
        found = listing_x.rows
        if as_json:
            out.print_json(json.dumps([c.as_json() for c in found]))
            return
        names = pupil_names(listing_x)
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
    by: By = "",
) -> None:
    """Who read which pupil's records, when, what and for what purpose (oldest first); read
    as a trust-wide DSL. Pupils are shown by id: this listing shows no pupil content."""
    caller = operator(by, Role.DSL)
    with chronicle() as app:
        pupil_id = resolve_pupil(app, caller, pupil) if pupil is not None else None
        if pupil_id is not None:
            refuse_if_purged(app, pupil_id)
        found = app.reads.access_log_across(
            caller,
            staff=staff,
            since=since.date() if since else None,
            until=until.date() if until else None,
            read_at=academy,
            pupil=pupil_id,
            limit=limit,
        )
    if as_json:
        out.print_json(json.dumps([a.as_json() for a in found]))
        return
    table = Table("when (UTC)", "pupil", "academy", "read by", "what", "purpose")
    for a in found:
        table.add_row(
            a.recorded_at[:16].replace("T", " "),
            str(a.pupil_id),
            a.academy or "-",
            f"{a.staff_id} ({a.role})",
            a.detail or a.what,
            a.purpose or "-",
        )
    out.print(table)
    out.print(f"{len(found)} reads", highlight=False)


@contextmanager
def purged_answered(app: Chronicle) -> Iterator[None]:
    """A read of a purged pupil fails (exit 1) with the signed purge record: who, when,
    and the record's signature, as HTTP's 410 carries it."""
    try:
        yield
    except PupilPurged as e:
        raise CommandFailed(_purged(app, e.pupil_id, str(e))) from None


def refuse_if_purged(app: Chronicle, pupil_id: UUID) -> None:
    """Fail with the purge record if this installation holds one for the pupil (also after a
    restore and `reapply-purges`, when the pupil's tombstone is gone but its key is not)."""
    if app.reads.purge_record_of(pupil_id) is not None:
        said = f"records of pupil {pupil_id} were purged; nothing can be read or added"
        raise CommandFailed(_purged(app, pupil_id, said))


def _purged(app: Chronicle, pupil_id: object, said: str) -> str:
    record = app.reads.purge_record_of(pupil_id)
    if record is None:
        return said
    r = record.record
    return (
        f"{said}. Purge record: purged at {r['purged_at']}, proposed by {r['proposed_by']}, "
        f"approved by {r['approved_by']}, head entry {r['head_seq']} at log index "
        f"{r['log_index']}, signature {record.signature[:16]}… "
        "(`chronicle retention records --json` has it whole)"
    )


def pupil_names(listing: Listing[Any]) -> dict[UUID, str]:
    """Each listed pupil's name and UPN (read by the listing's own query, and logged)."""
    found: dict[UUID, str] = {}
    for pupil_id, shown in listing.names.items():
        found[pupil_id] = f"{shown.name} ({shown.upn})"
    return _Named(found)


class _Named(dict[UUID, str]):
    def __missing__(self, pupil_id: UUID) -> str:
        return f"{pupil_id} (purged)"


def _status(d: Deadline) -> str:
    if d.status == "overdue":
        return f"[red]overdue {-d.days} d[/red]"
    return "[yellow]due today[/yellow]" if d.days == 0 else f"due in {d.days} d"
