"""The HTTP API (FastAPI): `create_app(records, ledger)`; see docs/api.md."""

from api.http.app import create_app

__all__ = ["create_app"]
