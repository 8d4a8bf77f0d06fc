"""`chronicle projections …` and the read-model verbs (register, census)."""

from __future__ import annotations

import typer

projections_app = typer.Typer(no_args_is_help=True, help="Read models rebuilt from the events.")
