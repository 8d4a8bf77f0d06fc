"""`chronicle import pupils FILE`: pupils from the MIS (docs/import.md).

A thin edge over the import use case (api/app/imports.py): it reads the file, shows a
progress bar while batches are saved, and prints the report — counts, refused rows by
line and column, moves held for a person — as text or JSON. Exit 1 when a row is refused
(nothing was written) or the file cannot be read; 0 otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.app.history_imports import HistoryReport
from api.app.imports import ImportReport
from api.cli_common import CommandFailed, chronicle, err, operator, out, resolve_pupil
from api.imports.ctf import CTF, ctf_rows
from api.imports.ctf_out import School
from api.imports.history import HISTORY_FIELDS, history_mapping_named
from api.imports.mappings import MappingError, mapping_named
from api.imports.rows import Refusal
from api.imports.sources import SourceError, csv_rows
from domain.values import Role

import_app = typer.Typer(
    no_args_is_help=True,
    help="Bring a trust's pupils in from its MIS, and their SEN history from other products.",
)


@import_app.command("pupils")
def import_pupils(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The export.")],
    format: Annotated[str, typer.Option("--format", help="csv or ctf.")] = "csv",
    mapping: Annotated[
        str | None,
        typer.Option(help="A shipped mapping (chronicle, census) or a mapping file (TOML)."),
    ] = None,
    academy: Annotated[
        str | None, typer.Option(help="The academy of rows that name none (its code).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be written.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
    per_row: Annotated[bool, typer.Option("--per-row", help="Each row's entries too.")] = False,
    by: Annotated[str | None, typer.Option("--by", help="Your staff id (recorded).")] = None,
    role: Annotated[Role, typer.Option("--role", help="The role you act in.")] = Role.SENDCO,
) -> None:
    """Import pupils from a CSV export or a Common Transfer File: every row is checked
    before anything is written; the same file again changes nothing."""
    if format not in ("csv", "ctf"):
        raise typer.BadParameter("csv or ctf", param_hint="--format")
    try:
        data = file.read_bytes()
        if format == "ctf":
            chosen = CTF
            rows, encoding = ctf_rows(data)
        else:
            chosen = mapping_named(mapping)
            rows, encoding = csv_rows(data, chosen)
    except (SourceError, MappingError) as e:
        raise CommandFailed(f"{file.name}: {e}; nothing was imported") from None
    caller = operator(by, role)
    with chronicle() as app:
        if as_json or dry_run:
            report = app.imports.pupils(
                caller, rows, chosen, encoding=encoding, academy=academy, dry_run=dry_run
            )
        else:
            with _bar() as bar:
                task = bar.add_task("saving pupils", total=None)
                report = app.imports.pupils(
                    caller, rows, chosen, encoding=encoding, academy=academy,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )  # fmt: skip
    if as_json:
        out.print_json(json.dumps(report.as_json(per_row=per_row)))
    else:
        _print(report, per_row)
    if report.refused:
        raise typer.Exit(1)


@import_app.command("history")
def import_history(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The CSV export.")],
    source: Annotated[
        str, typer.Option("--source", help="The product it comes from, e.g. 'Provision Map'.")
    ],
    mapping: Annotated[
        str | None,
        typer.Option(help="The shipped history template (chronicle) or a mapping file (TOML)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be written.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
    per_row: Annotated[bool, typer.Option("--per-row", help="Each row's entry too.")] = False,
    by: Annotated[str | None, typer.Option("--by", help="Your staff id (recorded).")] = None,
    role: Annotated[Role, typer.Option("--role", help="The role you act in.")] = Role.SENDCO,
) -> None:
    """Import SEN history (dated concerns, notes, plans, reviews, agency involvement) from
    another product, each entry with its provenance; safeguarding records as pointers only.
    Every row is checked before anything is written; the same file again changes nothing."""
    try:
        chosen = history_mapping_named(mapping)
        f = HISTORY_FIELDS
        rows, encoding = csv_rows(file.read_bytes(), chosen, f.names, f.required)
    except (SourceError, MappingError) as e:
        raise CommandFailed(f"{file.name}: {e}; nothing was imported") from None
    caller = operator(by, role)
    with chronicle() as app:
        if as_json or dry_run:
            report = app.history.history(
                caller, rows, chosen, source=source, encoding=encoding, dry_run=dry_run
            )
        else:
            with _bar() as bar:
                task = bar.add_task("saving entries", total=None)
                report = app.history.history(
                    caller, rows, chosen, source=source, encoding=encoding,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )  # fmt: skip
    if as_json:
        out.print_json(json.dumps(report.as_json(per_row=per_row)))
    else:
        _print_history(report, per_row)
    if report.refused:
        raise typer.Exit(1)


def export_ctf(
    pupils: Annotated[list[str], typer.Argument(help="Pupil ids or UPNs.")],
    out_file: Annotated[Path, typer.Option("--out", help="The CTF file to write.")],
    to: Annotated[
        str | None, typer.Option(help="The destination school's DfE number (LA/ESTAB).")
    ] = None,
    purpose: Annotated[str | None, typer.Option(help="Why (recorded in the access log).")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Your staff id (recorded).")] = None,
    role: Annotated[Role, typer.Option("--as", help="The role you act in.")] = Role.SENDCO,
) -> None:
    """Write the pupils' SEN section as a Common Transfer File (statutory codes only)."""
    dest = None
    if to is not None:
        lea, _, estab = to.partition("/")
        if not (lea.isdigit() and estab.isdigit() and len(lea) == 3 and len(estab) == 4):
            raise typer.BadParameter("a DfE number: LA/ESTAB, e.g. 873/2041", param_hint="--to")
        dest = School(lea, estab)
    caller = operator(by, role)
    with chronicle() as app:
        ids = [resolve_pupil(app, caller, text) for text in pupils]
        data = app.transfers.ctf(caller, ids, purpose, dest)
    out_file.write_bytes(data)
    out.print(f"{len(ids)} pupils written to {escape(str(out_file))}", highlight=False)


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _print(report: ImportReport, per_row: bool) -> None:
    said = report.as_json(per_row=per_row)
    pupils = said["pupils"]
    verb = "would be" if report.dry_run else ("were" if report.written else "would have been")
    out.print(
        f"{report.rows} rows read ({escape(report.encoding)}, {escape(report.source)}): "
        f"{pupils['new']} new pupils, {pupils['changed']} changed, "
        f"{pupils['unchanged']} unchanged"
        + (" (dry run: nothing written)" if report.dry_run else ""),
        highlight=False,
    )
    if _print_refused(report.refused):
        return
    if said["entries"]:
        table = Table("entry", "count", title=f"entries that {verb} written")
        for kind, n in said["entries"].items():
            table.add_row(kind, str(n))
        out.print(table)
    for held in report.held:
        out.print(
            f"  held: line {held.line}: {escape(held.what)}: {escape(held.reason)}",
            highlight=False,
        )
    if per_row:
        for row in said.get("per_row", []):
            out.print(
                f"  line {row['line']}: {row['outcome']} {', '.join(row['entries'])}",
                highlight=False,
            )


def _print_history(report: HistoryReport, per_row: bool) -> None:
    said = report.as_json(per_row=per_row)
    verb = "would be" if report.dry_run else ("were" if report.written else "would have been")
    out.print(
        f"{report.rows} rows read ({escape(report.encoding)}, mapping {escape(report.mapping)}, "
        f"from {escape(report.source)}): {sum(said['entries'].values())} new entries for "
        f"{said['pupils']} pupils, {said['already_imported']} already imported"
        + (" (dry run: nothing written)" if report.dry_run else ""),
        highlight=False,
    )
    if _print_refused(report.refused):
        return
    if said["entries"]:
        table = Table("entry", "count", title=f"entries that {verb} written")
        for kind, n in said["entries"].items():
            table.add_row(kind, str(n))
        out.print(table)
    if per_row:
        for row in said.get("per_row", []):
            out.print(f"  line {row['line']}: {row['entry']}", highlight=False)


def _print_refused(refused: list[Refusal]) -> bool:
    """Print the refused rows, if any (then nothing was written); whether there were any."""
    if refused:
        err.print(
            f"[red]{len(refused)} problems: nothing was written[/red] (fix the file "
            "and import it again)",
            highlight=False,
        )
        for refusal in refused:
            err.print(f"  {escape(str(refusal))}", highlight=False)
    return bool(refused)
