"""Read-model verbs for SENDCos and DSLs (deadlines, safeguarding cross-references)."""

from __future__ import annotations

import typer

reads_app = typer.Typer(help="Read models for SENDCos and DSLs.")
