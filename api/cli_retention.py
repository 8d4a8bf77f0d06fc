"""`chronicle retention …`: the data-protection officer's year, from the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console

from api.app.bodies import (
    CorrectEntry,
    LiftLegalHolds,
    PlaceLegalHold,
    ProposePurge,
    RefuseErasure,
    RequestSubjectAccess,
)
from api.app.service import Chronicle
from api.bootstrap import open_ledger, open_records, open_retention
from api.cli_common import chronicle, operator, resolve_pupil
from api.retention import Retention
from api.settings import load_settings
from domain.pupil.rights import subject_access_due
from domain.values import Role
from projections.retention_schedule import RetentionEntry

retention_app = typer.Typer(
    no_args_is_help=True, help="Retention, legal holds, purges and data-protection requests."
)
out = Console(soft_wrap=True)

By = Annotated[str, typer.Option("--by", help="Your staff id (recorded).")]
AsRole = Annotated[Role, typer.Option("--role", help="The role you act in.")]


@contextmanager
def retention(check_purges: bool = True) -> Iterator[tuple[Any, Retention]]:
    settings = load_settings()
    # reapply-purges (check_purges off) is a verb of the restore runbook: it opens a
    # database behind its journal too.
    records = open_records(settings, check_purges=check_purges, check_behind=check_purges)
    try:
        yield records, open_retention(settings, records, open_ledger(settings, records))
    finally:
        records.close()


def _add(app: Chronicle, slug: str, pupil: str, by: str, role: Role, body: Any) -> Any:
    """Add a DPO's entry through the application (authorised, audited with it)."""
    caller = operator(by, role)
    pupil_id = resolve_pupil(app, caller, pupil)
    return pupil_id, app.entries.add(caller, slug, pupil_id, body, None)


@retention_app.command("hold")
def hold(
    pupil: str,
    reason: Annotated[str, typer.Option(help="Why the records must be kept (recorded).")],
    by: By,
    requested_by: Annotated[str, typer.Option(help="Who asked for the hold.")] = "",
    role: AsRole = Role.DPO,
) -> None:
    """Place a legal hold: the pupil's records cannot be purged until it is lifted."""
    with chronicle() as app:
        body = PlaceLegalHold(reason=reason, requested_by=requested_by or by)
        pupil_id, saved = _add(app, "legal-holds", pupil, by, role, body)
    out.print(f"Legal hold placed on pupil {pupil_id} (entry {saved.seq}).", highlight=False)


@retention_app.command("release")
def release(
    pupil: str,
    reason: Annotated[str, typer.Option(help="Why the hold is lifted (recorded).")],
    by: By,
    role: AsRole = Role.DPO,
) -> None:
    """Lift the legal hold(s) on a pupil's records."""
    with chronicle() as app:
        pupil_id, saved = _add(
            app, "legal-holds/release", pupil, by, role, LiftLegalHolds(reason=reason)
        )
    out.print(f"Lifted the legal hold(s) on pupil {pupil_id} (entry {saved.seq}).", highlight=False)


@retention_app.command("propose-purge")
def propose_purge(
    pupil: str,
    by: By,
    role: AsRole = Role.DPO,
    override: Annotated[
        str | None, typer.Option(help="Purge before the due date: the reason (recorded).")
    ] = None,
) -> None:
    """Propose purging a pupil's records; a second person must approve."""
    with chronicle() as app:
        caller = operator(by, role)
        pupil_id = resolve_pupil(app, caller, pupil)
        due = app.purges.propose(caller, pupil_id, ProposePurge(override=override))
    out.print(
        f"Purge of pupil {pupil_id} proposed by {by} (retention due {due}); a second person "
        f"must run `chronicle retention approve-purge {pupil_id} --by <their id>`.",
        highlight=False,
    )


@retention_app.command("approve-purge")
def approve_purge(pupil: str, by: By, role: AsRole = Role.DPO) -> None:
    """Approve a proposed purge and carry it out: irreversible."""
    with chronicle() as app:
        caller = operator(by, role)
        pupil_id = resolve_pupil(app, caller, pupil)
        record = app.purges.approve(caller, pupil_id)
    r = record.record
    out.print(
        f"Pupil {pupil_id} purged at {r['purged_at']} (proposed by {r['proposed_by']}, approved "
        f"by {r['approved_by']}); head entry {r['head_seq']} at log index {r['log_index']}. "
        "Signed purge record appended to the purge journal.",
        highlight=False,
    )


@retention_app.command("sar-request")
def sar_request(
    pupil: str,
    reference: Annotated[str, typer.Option(help="The trust's case reference, e.g. SAR-2026-014.")],
    requester: Annotated[
        str, typer.Option(help="pupil, parent, carer, legal_representative or other.")
    ],
    by: By,
    received: Annotated[
        str | None, typer.Option(help="Day the request was received (YYYY-MM-DD); default today.")
    ] = None,
    role: AsRole = Role.DPO,
) -> None:
    """Record a subject access request: its one-month response deadline is tracked."""
    with chronicle() as app:
        body = RequestSubjectAccess.model_validate(
            {
                "request_reference": reference,
                "requester_relationship": requester,
                "received_on": _day(received),
            }
        )
        pupil_id, _ = _add(app, "subject-access-requests", pupil, by, role, body)
        due = subject_access_due(body.received_on or app.today())
    out.print(
        f"Subject access request {reference} recorded on pupil {pupil_id}; response due by "
        f"{due}. Answer it with `chronicle export {pupil_id} --subject-access --out FILE`.",
        highlight=False,
    )


@retention_app.command("correct")
def correct(
    pupil: str,
    entry: Annotated[int, typer.Option(min=1, help="The entry that is wrong (its number).")],
    what_was_wrong: Annotated[str, typer.Option(help="What was wrong (recorded).")],
    correction: Annotated[str, typer.Option(help="What is right (recorded).")],
    reason: Annotated[str, typer.Option(help="Why it is corrected, e.g. the request.")],
    by: By,
    role: AsRole = Role.DPO,
) -> None:
    """Rectification: record a correction beside an entry (the entry itself stays)."""
    with chronicle() as app:
        body = CorrectEntry(
            corrects_seq=entry, what_was_wrong=what_was_wrong, correction=correction, reason=reason
        )
        pupil_id, saved = _add(app, "corrections", pupil, by, role, body)
    out.print(f"Entry {saved.seq} of pupil {pupil_id} corrects entry {entry}.", highlight=False)


@retention_app.command("refuse-erasure")
def refuse_erasure(
    pupil: str,
    entry: Annotated[int, typer.Option(min=1, help="The entry asked to be erased.")],
    reference: Annotated[str, typer.Option(help="The trust's case reference.")],
    requester: Annotated[
        str, typer.Option(help="pupil, parent, carer, legal_representative or other.")
    ],
    reason: Annotated[str, typer.Option(help="Why the trust must keep the entry.")],
    legal_basis: Annotated[str, typer.Option(help="The legal basis for keeping it.")],
    by: By,
    role: AsRole = Role.DPO,
) -> None:
    """Record that a request to erase an entry was refused, with the reason and legal basis."""
    with chronicle() as app:
        body = RefuseErasure.model_validate(
            {
                "entry_seq": entry,
                "request_reference": reference,
                "requester_relationship": requester,
                "reason": reason,
                "legal_basis": legal_basis,
            }
        )
        pupil_id, saved = _add(app, "erasure-refusals", pupil, by, role, body)
    out.print(
        f"Entry {saved.seq} of pupil {pupil_id} records that erasing entry {entry} was refused; "
        "the entry is kept.",
        highlight=False,
    )


def _day(text: str | None) -> Any:
    from datetime import date as date_type

    if text is None:
        return None
    try:
        return date_type.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date: use YYYY-MM-DD") from None


@retention_app.command("reapply-purges")
def reapply_purges() -> None:
    """Re-apply every journalled purge this database does not reflect (after a restore)."""
    with retention(check_purges=False) as (_, dpo):
        done = dpo.reapply()
    if not done:
        out.print("Every journalled purge is applied in this database.")
    for record in done:
        out.print(
            f"Re-applied the purge of pupil {record.pupil_id} ({record.record['purged_at']}).",
            highlight=False,
        )


@retention_app.command("records")
def purge_records(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The signed purge records of this database."""
    with retention() as (_, dpo):
        records = [r.as_json() for r in dpo.purge_records()]
    if as_json:
        out.print_json(json.dumps(records))
        return
    for r in records:
        body = r["record"]
        out.print(
            f"{body['purged_at']}  pupil {body['pupil']}  head {body['head_seq']}  "
            f"proposed {body['proposed_by']}  approved {body['approved_by']}",
            highlight=False,
        )
    out.print(f"{len(records)} purge records")


@retention_app.command("due")
def due(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date (YYYY-MM-DD); default today.")
    ] = None,
    held: Annotated[bool, typer.Option(help="List pupils under a legal hold instead.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Pupils whose records are due for purging (not held, not purged), soonest first."""
    from datetime import date as date_type

    try:
        day = date_type.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise typer.BadParameter(f"{as_of!r} is not a date: use YYYY-MM-DD") from None
    with chronicle() as app:
        caller = operator("", Role.DPO)
        _, entries = app.reads.retention_schedule(caller, "held" if held else "due", day)
    if as_json:
        out.print_json(json.dumps([e.as_json() for e in entries]))
        return
    for e in entries:
        holds = f"  held since {e.holds[0].placed_on}" if e.holds else ""
        out.print(f"{e.due_on}  pupil {e.pupil_id}  ({_periods(e)}){holds}", highlight=False)
    out.print(f"{len(entries)} pupils " + ("under a legal hold" if held else "due for purging"))


def _periods(e: RetentionEntry) -> str:
    """Which kind of record's period sets the due date, and the other one's date."""
    if e.governed_by == "child_protection":
        return f"child protection governs; SEN file {e.sen_file_due_on}"
    other = f"; child protection {e.child_protection_due_on}" if e.child_protection_due_on else ""
    return f"SEN file governs{other}"
