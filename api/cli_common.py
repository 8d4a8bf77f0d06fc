"""What every `chronicle` verb shares: the consoles, the operator as a caller, opening the
installation, and finding a pupil by id or UPN.

The command line runs on the installation and holds its keys. Verbs that read or change
pupils' records go through the application's use cases (api/app/), acting for the staff id
(`--by`, default `cli:<login>`) and role the operator gives, across the whole trust; so
their reads are in the access log like any other (docs/cli.md, docs/permissions.md).
Operator verbs over the whole store (init, keys, ledger, projections) open the records.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from rich.console import Console

from api.app.caller import Caller
from api.app.service import Chronicle
from api.application import PupilRecords
from api.bootstrap import open_chronicle, open_records
from api.settings import load_settings
from domain.values import Role

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class CommandFailed(Exception):
    """A command refused to go on; the message is for the operator."""


@contextmanager
def records(*, check_behind: bool = True) -> Iterator[PupilRecords]:
    """The installation's records, for operator verbs over the whole store (`check_behind`
    off only for the restore runbook's verbs: a database behind its journal is opened)."""
    opened = open_records(load_settings(), check_behind=check_behind)
    try:
        yield opened
    finally:
        opened.close()


@contextmanager
def chronicle(*, check_purges: bool = True) -> Iterator[Chronicle]:
    """The installation's application, for verbs that act on pupils' records."""
    app = open_chronicle(load_settings(), check_purges=check_purges)
    try:
        yield app
    finally:
        app.close()


def operator(by: str | None, role: Role) -> Caller:
    """The person at the command line, in the role they act in, across the whole trust."""
    return Caller.operator((by or "").strip() or f"cli:{getpass.getuser()}", role)


def resolve_pupil(app: Chronicle, caller: Caller, text: str) -> UUID:
    """A pupil id, or the pupil whose UPN this is."""
    return app.reads.pupil_id_of(caller, text)
