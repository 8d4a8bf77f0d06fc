"""The `chronicle` command line: the stable surface documented in docs/cli.md.

Exit codes: 0 success; 1 refused or failed (the message says why and what to do);
2 bad usage. Operator mistakes never print a stack trace.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from api.app.bodies import ExportRequest, Redaction, SubjectAccessExport
from api.app.errors import AppError
from api.app.queries import ChronologyFilters
from api.application import PupilRecords, RecordEntry
from api.bootstrap import SetupError, display_url, init_home, open_ledger, open_retention
from api.cli_common import (
    CommandFailed,
    chronicle,
    err,
    operator,
    out,
    records,
    resolve_pupil,
)
from api.cli_http import serve, users_app
from api.cli_projections import projections_app
from api.cli_reads import purged_answered, reads_app
from api.cli_retention import retention_app
from api.faults import DATABASE_ERRORS, explain_database_error, explain_os_error
from api.imports.history import provenance_text
from api.settings import SettingsError, load_settings
from crypto.errors import CryptoError
from domain.errors import DomainError
from domain.policy import PolicyError
from domain.values import Role, year_group_on
from projections.ledger import Ledger, LedgerError, LedgerFollower, SignedCheckpoint
from projections.runner import ProjectionError

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
__import__("api.cli_keys").cli_keys.add_key_commands(keys_app)  # rotate-kek, …
ledger_app = typer.Typer(no_args_is_help=True, help="The trust-wide verifiable log.")
app.add_typer(ledger_app, name="ledger")
app.add_typer(projections_app, name="projections")
app.add_typer(retention_app, name="retention")
app.command()(serve)
app.add_typer(users_app, name="users")
app.add_typer(__import__("api.cli_academies").cli_academies.academies_app, name="academies")
app.add_typer(reads_app)  # its commands join the top level (deadlines, safeguarding, …)
app.add_typer(__import__("api.cli_import").cli_import.import_app, name="import")
app.command("export-ctf")(__import__("api.cli_import").cli_import.export_ctf)

_OPERATOR_ERRORS = (
    SetupError,
    SettingsError,
    CryptoError,
    DomainError,
    PolicyError,
    LedgerError,
    ProjectionError,
    AppError,
)


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
        settings = load_settings()
        log = open_ledger(settings, app_)
        dpo = open_retention(settings, app_, log)
        summary = generate(app_, pupils=pupils, seed=seed, seal_purge=dpo.seal_recorded_purge)
        signed = log.checkpoint()
    out.print(
        f"Demo trust written: {summary.pupils} pupils, {summary.events} entries, "
        f"academies {', '.join(summary.academies)}; log checkpoint at size "
        f"{signed.checkpoint['size']}."
    )
    if summary.first_pupil:
        out.print(f"Try: chronicle chronology {summary.first_pupil}")


@pupils_app.command("list")
def pupils_list(
    academy: Annotated[str | None, typer.Option(help="Only this academy's pupils.")] = None,
    by: Annotated[str, typer.Option(help="Your staff id (recorded as the reader).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List pupils (id, UPN, name, academy, year group); each pupil listed is recorded as
    read by you (as a trust-wide SENDCo)."""
    with chronicle() as app_:
        caller = operator(by, Role.SENDCO)
        found = app_.reads.registrations(caller, academy or None, "pupils list")
    rows = [_pupil_row(e) for e in found]
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
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", help="Only entries of this kind (repeatable), e.g. PlanReviewed."),
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option("--from", formats=["%Y-%m-%d"], help="Happened on or after this day."),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Happened on or before this day."),
    ] = None,
    role_filter: Annotated[
        str | None, typer.Option("--role", help="Only entries recorded in this role.")
    ] = None,
    area: Annotated[
        str | None, typer.Option("--area", help="Only entries about this area of need.")
    ] = None,
    viewer: Annotated[
        str | None,
        typer.Option("--as", help="Read in this role; entries it may not see are masked."),
    ] = None,
    by: Annotated[str, typer.Option(help="Your staff id (recorded as the reader).")] = "",
    purpose: Annotated[str, typer.Option(help="Why you are reading (recorded).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """A pupil's record, every entry with both dates, in the order it happened. The read is
    recorded in the pupil's access log, as by a trust-wide SENDCo unless --as says which
    role you read in (entries that role may not read are masked)."""
    from projections.chronology import area_of_need

    role = Role.SENDCO
    if viewer is not None:
        try:
            role = Role(viewer)
        except ValueError:
            raise CommandFailed(
                f"unknown role {viewer!r}; roles are: {', '.join(r.value for r in Role)}"
            ) from None
    filters = ChronologyFilters(
        kinds=kind or None,
        since=since.date() if since else None,
        until=until.date() if until else None,
        author_role=role_filter,
        area=None if area is None else area_of_need(area).value,
    )
    with chronicle() as app_, purged_answered(app_):
        caller = operator(by, role)
        pupil_id = resolve_pupil(app_, caller, pupil)
        found = app_.reads.chronology(caller, pupil_id, filters, purpose or None)
    entries = found.entries
    first = found.pupil
    if as_json:
        out.print_json(json.dumps([e.as_json() for e in entries]))
        return
    out.print(
        f"[bold]{first.legal_given_names} {first.legal_family_name}[/bold]  "
        f"UPN {first.upn}  {first.academy or 'left the trust'}  pupil {pupil_id}"
    )
    for e in entries:
        recorded = e.recorded_at[:16].replace("T", " ")
        by = f"  by {e.recorded_by['staff_id']} ({e.recorded_by['role']})" if e.recorded_by else ""
        note = ""
        if e.corrected_by:
            seqs = ", ".join(f"#{seq}" for seq in e.corrected_by)
            note = f"  [yellow](corrected by {seqs})[/yellow]"
        imported = e.payload.get("imported_from") if e.payload else None
        out.print(
            f"\n[bold]#{e.seq}[/bold] {e.type}  happened {e.happened_on}  "
            f"{'imported' if imported else 'recorded'} {recorded}{by}{note}",
            highlight=False,
        )
        if imported:
            out.print(
                f"    imported from: {provenance_text(imported)}", highlight=False, markup=False
            )
        if e.payload is None:
            out.print(
                f"    (not shown to the {role.value} role under this trust's policy)",
                highlight=False,
            )
            continue
        for key, value in e.payload.items():
            if key in _SKIP or value in (None, "", []):
                continue
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            out.print(f"    {key.replace('_', ' ')}: {shown}", highlight=False, markup=False)
    out.print(f"\n{len(entries)} entries", highlight=False)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-wrap every pupil's data key under a new key-encryption key; events are untouched."""
    with records() as app_:
        kid, count = app_.data_keys.rotate(app_.clock())
    out.print(f"New key-encryption key {kid}; re-wrapped {count} data keys.")
    out.print("The old key file moved to keys/retired/: keep it while older backups exist.")


@ledger_app.command("checkpoint")
def ledger_checkpoint(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Bring the log up to date and sign a checkpoint of it (reused if nothing is new)."""
    with ledger() as (_, log):
        signed = log.checkpoint()
    if as_json:
        out.print_json(json.dumps(signed.as_json()))
        return
    c = signed.checkpoint
    out.print(f"Checkpoint: size {c['size']}, root {c['root']}", highlight=False)
    out.print(f"Issued {c['issued_at']} for log {c['log']}", highlight=False)
    out.print(f"Signature {signed.signature}", highlight=False)


@ledger_app.command("follow")
def ledger_follow(
    interval: Annotated[float, typer.Option(min=0.01, help="Seconds between polls.")] = 0.05,
) -> None:
    """Keep the log current and sign a checkpoint after every write, until interrupted."""
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def announce(signed: SignedCheckpoint) -> None:
        c = signed.checkpoint
        out.print(f"{c['issued_at']} checkpoint size {c['size']} root {c['root']}", highlight=False)

    with ledger() as (_, log):
        follower = LedgerFollower(log, interval, on_checkpoint=announce)
        out.print(f"Following the event log every {interval} s; Ctrl-C to stop.")
        with suppress(KeyboardInterrupt):
            follower.run(stop)


@ledger_app.command("consistency")
def ledger_consistency(
    old_size: Annotated[int, typer.Argument(min=1)],
    new_size: Annotated[int, typer.Argument(min=1)],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """A consistency proof (RFC 9162 2.1.4) between two sizes of the log."""
    with ledger() as (_, log):
        log.integrate()
        size = log.size()
        if not old_size <= new_size <= size:
            raise CommandFailed(f"sizes must satisfy 1 <= OLD <= NEW <= {size} (the log's size)")
        proof = log.consistency_proof(old_size, new_size)
        document: dict[str, Any] = {
            "old_size": old_size,
            "new_size": new_size,
            "old_root": log.root(old_size).hex(),
            "new_root": log.root(new_size).hex(),
            "proof": [h.hex() for h in proof],
        }
    if as_json:
        out.print_json(json.dumps(document))
        return
    out.print(f"Old root ({old_size}): {document['old_root']}", highlight=False)
    out.print(f"New root ({new_size}): {document['new_root']}", highlight=False)
    for h in document["proof"]:
        out.print(f"  {h}", highlight=False)


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Recompute the whole ledger from the store, on one snapshot, and say exactly what is
    wrong, and where; a loss two DPOs acknowledged is reported, not failed on."""
    from projections.ledger_audit import audit
    from projections.ledger_losses import LossBook

    with ledger(check_behind=False) as (app_, log):
        log.integrate()
        book = LossBook.beside(app_.datastore.engine, log)
        report = audit(log, opener=app_.sealing_mapper.committed, acknowledged=book.acknowledged())
    for problem in report.problems:
        err.print(f"[red]problem:[/red] {escape(str(problem))}", highlight=False)
    for acknowledgement, excused in report.acknowledged:
        out.print(
            f"acknowledged: {escape(acknowledgement.describe())}; {excused} journalled "
            "checkpoint(s) excused",
            highlight=False,
        )
    if report.after_snapshot:
        out.print(
            f"{report.after_snapshot} journalled checkpoint(s) were signed after the snapshot "
            "and are compared by the next run",
            highlight=False,
        )
    summary = (
        f"{report.events} stored events, {report.leaves} log entries, "
        f"{report.checkpoints} checkpoints, {report.decrypted} events decrypted and checked"
    )
    if report.loss is not None:
        loss = report.loss
        err.print(
            f"[red]loss:[/red] {escape(loss.describe())}. If it is known (a restore), two "
            f"DPOs acknowledge it: chronicle ledger acknowledge-loss --from-size "
            f"{loss.from_size} --to-size {loss.to_size} --reason TEXT --by DPO --second DPO",
            highlight=False,
        )
    if report.problems:
        raise CommandFailed(
            f"the ledger does not verify: {len(report.problems)} problems ({summary})"
        )
    out.print(f"The ledger verifies: {summary}.")


@ledger_app.command("acknowledge-loss")
def ledger_acknowledge_loss(
    from_size: Annotated[
        int, typer.Option("--from-size", min=0, help="As `ledger verify` names it.")
    ],
    to_size: Annotated[int, typer.Option("--to-size", min=1, help="As `ledger verify` names it.")],
    reason: Annotated[
        str, typer.Option(help="Why the loss is known, e.g. the restore (signed; no pupil data).")
    ],
    by: Annotated[str, typer.Option(help="Your staff id (a DPO).")],
    second: Annotated[str, typer.Option(help="The second DPO's staff id.")],
) -> None:
    """Record, signed, that the journalled checkpoints this database does not hold (after
    restoring an older backup) are a known loss: two DPOs, exactly the range verify names."""
    from api.ledger_losses import acknowledge_loss
    from crypto.signing import load_signing_key

    settings = load_settings()
    with ledger(check_behind=False) as (app_, log):
        record = acknowledge_loss(
            app_.datastore.engine,
            log,
            load_signing_key(settings.keys_dir),
            from_size=from_size,
            to_size=to_size,
            reason=reason,
            by=by,
            second=second,
            now=app_.clock(),
        )
    out.print(f"Recorded: {escape(record.describe())}.", highlight=False)
    out.print(
        "Signed with the checkpoint key; kept in the database and in "
        f"{settings.home.resolve() / 'ledger' / 'losses.jsonl'}.",
        highlight=False,
    )


@app.command()
def export(
    pupil: Annotated[str, typer.Argument(help="Pupil id (UUID) or UPN.")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the JSON bundle.")],
    purpose: Annotated[
        str, typer.Option(help="Why: e.g. send_tribunal_appeal, or free text.")
    ] = "",
    redact: Annotated[
        list[str] | None, typer.Option(help="SEQ=REASON: withhold an entry (repeatable).")
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="Also write the tribunal bundle (HTML).")
    ] = None,
    recipient: Annotated[str, typer.Option(help="To whom the records go.")] = "tribunal team",
    legal_basis: Annotated[str, typer.Option(help="The lawful basis for disclosure.")] = (
        "not stated"
    ),
    by: Annotated[str, typer.Option(help="Staff id of the person exporting.")] = "",
    subject_access: Annotated[
        bool,
        typer.Option(
            "--subject-access",
            help="Answer a subject access request: adds the access log and marks "
            "third-party information for review (docs/operations.md).",
        ),
    ] = False,
    request: Annotated[
        int | None,
        typer.Option(help="With --subject-access: the request's entry (default: the latest)."),
    ] = None,
    as_role: Annotated[
        str, typer.Option("--as", help="The role you export in: tribunal, sendco, dsl or dpo.")
    ] = "tribunal",
    release: Annotated[
        list[int] | None,
        typer.Option(help="DSL only (--as dsl): release this restricted entry (repeatable)."),
    ] = None,
) -> None:
    """Export a pupil's verifiable history for its recipient (entries the purpose does not
    disclose are withheld, with the reason); the export is recorded on the pupil."""
    from api.bundle_html import render_bundle_html

    if not subject_access and not purpose.strip():
        raise typer.BadParameter("give --purpose (or --subject-access)")
    redactions = [
        Redaction(seq=seq, reason=reason) for seq, reason in _parse_redactions(redact or [])
    ]
    if as_role not in {r.value for r in Role}:
        raise CommandFailed(f"unknown role {as_role!r} for --as: use tribunal, sendco, dsl, dpo")
    role = Role.DPO if subject_access else Role(as_role)
    with chronicle() as app_, purged_answered(app_):
        caller = operator(by, role)
        pupil_id = resolve_pupil(app_, caller, pupil)
        if subject_access:
            result = app_.exports.subject_access(
                caller,
                pupil_id,
                SubjectAccessExport(
                    request_seq=request,
                    recipient=None if recipient == "tribunal team" else recipient,
                    redactions=redactions,
                    released=release or [],
                ),
            )
        else:
            result = app_.exports.export(
                caller,
                pupil_id,
                ExportRequest(
                    purpose=purpose,
                    recipient=recipient,
                    legal_basis=legal_basis,
                    redactions=redactions,
                    released=release or [],
                ),
            )
    _write_atomically(out_file, json.dumps(result.bundle, indent=1, ensure_ascii=False))
    if html is not None:
        _write_atomically(html, render_bundle_html(result.bundle, result.digest))
    out.print(
        f"Exported {len(result.bundle['events'])} entries of pupil {pupil_id} to {out_file} "
        f"(digest {result.digest}); recorded on the pupil as RecordsDisclosed.",
        highlight=False,
    )


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="A chronicle-export/2 (or /1) bundle (JSON).")],
    public_key: Annotated[
        str | None, typer.Option(help="The trust's published public key (hex).")
    ] = None,
) -> None:
    """Verify an export offline: exit 0 valid, 1 invalid (says which check or field, and
    which event), 2 unreadable. Without --public-key the result is NOT anchored."""
    from crypto.bundle_check import Unreadable, verify_bundle

    try:
        verdict = verify_bundle(file.read_bytes(), public_key)
    except (OSError, Unreadable) as e:
        err.print(f"[red]unreadable:[/red] {file}: {e}", highlight=False)
        raise typer.Exit(2) from None
    if verdict.failure is not None:
        err.print(f"[red]INVALID[/red] {file}: {verdict.failure}", highlight=False)
        raise typer.Exit(1)
    access = (
        ""
        if verdict.access_log_entries is None
        else f" and {verdict.access_log_entries} access-log entries"
    )
    anchor = "anchored" if verdict.anchored else "NOT anchored"
    out.print(
        f"VALID ({anchor}): format {verdict.format}, pupil {verdict.pupil}, {verdict.events} "
        f"entries ({verdict.redacted} withheld){access}, included in the signed log of size "
        f"{verdict.checkpoint_size}.",
        highlight=False,
    )
    if verdict.version == 1:
        out.print(
            f"format {verdict.format}: the entries and checkpoint are verified; the purpose, "
            "recipient, time and withheld reasons are not signed in this version.",
            highlight=False,
        )
    else:
        out.print(
            "The signed manifest covers the purpose, recipient, legal basis, exporter, time, "
            "policy, withheld entries and reasons, and the access-log and subject-access parts.",
            highlight=False,
        )
    if verdict.anchored:
        out.print(f"Signatures checked against the given public key {verdict.public_key}.")
    else:
        out.print(
            "NOT anchored: the signatures were checked only against the key inside the "
            f"bundle. Compare this key with the trust's published key: {verdict.public_key} "
            "(or pass --public-key).",
            highlight=False,
        )


@contextmanager
def ledger(*, check_behind: bool = True) -> Iterator[tuple[PupilRecords, Ledger]]:
    settings = load_settings()
    with records(check_behind=check_behind) as app_:
        yield app_, open_ledger(settings, app_)


def _parse_redactions(items: list[str]) -> list[tuple[int, str]]:
    redactions: list[tuple[int, str]] = []
    for item in items:
        seq, sep, reason = item.partition("=")
        if not sep or not seq.strip().isdigit() or not reason.strip():
            raise typer.BadParameter(f"{item!r}: use SEQ=REASON, e.g. 4=third-party information")
        redactions.append((int(seq), reason.strip()[:500]))
    return redactions


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


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


_SKIP = {"happened_on", "recorded_at", "recorded_by", "imported_from"}


def _database_name() -> str:
    try:
        return display_url(load_settings().store_url)
    except SettingsError:
        return "CHRONICLE_DATABASE_URL"


def _spelled(args: list[str]) -> list[str]:
    """`chronicle export ctf PUPIL…` is `chronicle export-ctf PUPIL…` (`export` itself
    takes one pupil: no pupil id or UPN is "ctf")."""
    if args[:2] == ["export", "ctf"]:
        return ["export-ctf", *args[2:]]
    return args


def main() -> None:
    """Entry point: run the command, turning operator errors into one clear line."""
    try:
        app(args=_spelled(sys.argv[1:]), standalone_mode=True)
    except (*_OPERATOR_ERRORS, CommandFailed) as e:  # RetentionRefused is a DomainError
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        sys.exit(1)
    except OSError as e:  # a full disk, a read-only or unreadable file
        err.print(f"[red]error:[/red] {escape(explain_os_error(e))}", highlight=False)
        sys.exit(1)
    except DATABASE_ERRORS as e:  # a full, damaged, read-only or lost database
        said = explain_database_error(e, _database_name())
        if said is None:
            raise
        err.print(f"[red]error:[/red] {escape(said)}", highlight=False)
        sys.exit(1)
    except ValidationError as e:  # an option the request's model refuses
        problems = "; ".join(
            f"{'.'.join(str(p) for p in p_['loc']) or 'input'}: {p_['msg']}"
            for p_ in e.errors(include_url=False)
        )
        err.print(f"[red]error:[/red] {escape(problems)}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    # Run the canonical `api.cli` module, not this `__main__` copy, so the errors other
    # modules raise are the classes `main` catches.
    from api.cli import main as canonical_main

    canonical_main()
