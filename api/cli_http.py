"""`chronicle serve` and `chronicle users add|revoke|list` (docs/api.md, docs/permissions.md).

Both are built by the composition root (api/bootstrap.py): `serve` runs the HTTP API and
web over `open_chronicle`; the user verbs need only the user table (`open_users`), no keys.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.bootstrap import open_chronicle, open_users
from api.settings import load_settings
from api.users import User, UserError, Users

users_app = typer.Typer(no_args_is_help=True, help="People who may use the HTTP API.")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Server processes (PostgreSQL only; SQLite is single-process). One of them "
            "runs the ledger and projection followers (docs/operations.md).",
        ),
    ] = 1,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Addresses of the reverse proxies whose X-Forwarded-For/-Proto are believed "
            "(comma-separated, or *); default FORWARDED_ALLOW_IPS or 127.0.0.1,::1.",
        ),
    ] = None,
) -> None:
    """Run the HTTP API (OpenAPI at /docs); a ledger follower signs checkpoints as it runs."""
    import uvicorn

    from api.http import create_app
    from api.http.hardening import uvicorn_options

    settings = load_settings()
    if workers > 1 and not settings.store_url.startswith("postgresql"):
        _fail(
            f"--workers {workers}: SQLite is single-process, so Chronicle on SQLite runs one "
            "server process; use PostgreSQL (CHRONICLE_DATABASE_URL) for more workers"
        )
    # access_log=False: uvicorn's access log would write request paths and queries,
    # which are ids and filters, but nothing personal should ever depend on that.
    options = {
        "host": host,
        "port": port,
        "access_log": False,
        "log_level": "info",
        **uvicorn_options(settings),
    }
    if forwarded_allow_ips is not None:
        # The client's address (for the sign-in throttle and audit) and https (for the
        # cookie's Secure flag) from these proxies' headers (docs/operations.md).
        options["forwarded_allow_ips"] = forwarded_allow_ips
    if workers > 1:
        # Opened (and closed) here first: a misconfigured installation is one error line
        # rather than one per worker, and a purge a crash interrupted is finished once,
        # before the workers start. Each worker then opens its own (api/http/asgi.py).
        open_chronicle(settings).close()
        uvicorn.run("api.http.asgi:app", factory=True, workers=workers, **options)
        return
    chronicle = open_chronicle(settings)
    try:
        app = create_app(chronicle, follow_ledger=True)
        # Long-lived objects made at start-up are never garbage; keeping full collections
        # from walking them keeps tail latency down (docs/performance.md).
        gc.freeze()
        uvicorn.run(app, **options)
    finally:
        chronicle.close()


@contextmanager
def _users() -> Iterator[Users]:
    # The user table lives in the installation's database; no keys are needed to manage it.
    settings = load_settings()
    if not settings.home.resolve().is_dir() and settings.database_url is None:
        _fail(f"CHRONICLE_HOME {settings.home.resolve()} does not exist: run `chronicle init`")
    users, close = open_users(settings)
    try:
        yield users
    except UserError as e:
        _fail(str(e))
    finally:
        close()


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(1)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The person's staff id, e.g. OAK-sendco-2.")],
    role: Annotated[
        str, typer.Option(help="sendco, teacher, dsl, dpo, tribunal, trust_admin, auditor.")
    ],
    academy: Annotated[
        list[str] | None,
        typer.Option(
            help="A listed academy the person covers (repeat for each; see "
            "`chronicle academies list`)."
        ),
    ] = None,
    trust_wide: Annotated[
        bool,
        typer.Option(
            "--trust-wide",
            help="The whole trust instead of academies (sendco, dsl, dpo, tribunal, "
            "trust_admin, auditor only).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Add a person and print their token once: it is stored only as a hash. Give the
    academies they cover (--academy, each a listed code) or --trust-wide."""
    with _users() as users:
        user, token = users.add(name, role, academy or [], datetime.now(UTC), trust_wide=trust_wide)
    if as_json:
        out.print_json(json.dumps({**user.as_json(), "token": token}))
        return
    scope = "the whole trust" if user.trust_wide else ", ".join(sorted(user.academies))
    out.print(f"Added {user.name} ({user.role.value}, {scope}).", highlight=False)
    out.print(f"Token (shown once, give it to them privately):\n{token}", highlight=False)


@users_app.command("revoke")
def users_revoke(name: Annotated[str, typer.Argument(help="The person's staff id.")]) -> None:
    """Revoke a person's token at once (their row stays, for the record)."""
    with _users() as users:
        user = users.revoke(name, datetime.now(UTC))
    out.print(f"Revoked {user.name}'s token.", highlight=False)


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Everyone who was ever given a token: role, academies, created, revoked."""
    with _users() as users:
        everyone = users.everyone()
    if as_json:
        out.print_json(json.dumps([u.as_json() for u in everyone]))
        return
    table = Table("name", "role", "academies", "created", "revoked")
    for u in everyone:
        table.add_row(
            u.name,
            u.role.value,
            _scope(u),
            u.created_at.date().isoformat(),
            "" if u.revoked_at is None else u.revoked_at.date().isoformat(),
        )
    out.print(table)


def _scope(user: User) -> str:
    if user.malformed:
        return "(malformed: token refused; revoke and add again)"
    return "(whole trust)" if user.trust_wide else ", ".join(sorted(user.academies))


def cli() -> typer.Typer:
    """A stand-alone app with both (for tests and until the lead wires them in)."""
    app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    app.command()(serve)
    app.add_typer(users_app, name="users")
    return app
