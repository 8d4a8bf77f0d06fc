"""`Chronicle`: the application, as every edge sees it — use cases, and nothing else.

The HTTP API, the web pages and the command line each hold one `Chronicle` (built by the
composition root, api/bootstrap.py) and call its use cases with the caller; none of them
holds the records, the ledger or a read model. See docs/architecture.md.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.engine import Engine

from api.app.caller import Caller
from api.app.core import Parts
from api.app.exports import Exports
from api.app.history_imports import HistoryImports
from api.app.imports import Imports
from api.app.oversight import Purges
from api.app.queries import Reads
from api.app.signins import SignIns
from api.app.transfers import TransferFiles
from api.app.writes import Entries
from api.users import User
from domain.policy import TrustPolicy
from projections.ledger import LedgerFollower
from projections.runner import ProjectionFollower


class Chronicle:
    """The trust's SEND records: entries, reads, exports and purges, for a caller."""

    def __init__(self, parts: Parts) -> None:
        self._parts = parts
        self.entries = Entries(parts)
        self.reads = Reads(parts)
        self.exports = Exports(parts)
        self.purges = Purges(parts)
        self.imports = Imports(parts)  # pupils from the MIS (docs/import.md)
        self.history = HistoryImports(parts)  # SEN history from other products (the same)
        self.transfers = TransferFiles(parts)  # Common Transfer Files out
        # Tokens checked for a sign-in (throttled and audited), and the sign-in audit.
        self.sign_ins = SignIns(parts)

    @property
    def policy(self) -> TrustPolicy:
        return self._parts.records.policy

    def now(self) -> datetime:
        return self._parts.records.clock()

    @property
    def engine(self) -> Engine:
        """The installation's database, for what the edges keep there themselves: the web's
        sessions (api/web/sessions.py) and the follower lease (api/leader.py)."""
        engine: Engine = self._parts.records.datastore.engine
        return engine

    def today(self) -> date:
        return self.now().date()

    def authenticate(self, token: str) -> User | None:
        """The person holding a bearer token (revoked or not), or None (a web session's
        token, on each request: cached for CHRONICLE_TOKEN_CACHE_SECONDS)."""
        return self.sign_ins.known(token)

    def ledger_follower(self, interval: float, sign_every: float = 0.2) -> LedgerFollower:
        """Keeps checkpoints current while a server runs (started and stopped with it):
        integrates every `interval` seconds, signs at most every `sign_every`."""
        return LedgerFollower(self._parts.ledger, interval, sign_every=sign_every)

    def position(self, caller: Caller | None = None) -> int:
        """The log position a read by `caller` waits for on this process: their own newest
        write here, the position they brought (`Caller.seen`) and the writes made here for
        nobody in particular; without a caller, every pupil write this process committed.
        Sent back with a read on another worker (`X-Chronicle-Position`, the web session),
        it makes that read show the same writes (api/app/positions.py)."""
        return self.reads.position(caller)

    def projection_follower(self, interval: float) -> ProjectionFollower:
        """Keeps the read models following the log while a server runs, so reads need not."""
        return ProjectionFollower(self._parts.runner, interval)

    def close(self) -> None:
        self._parts.records.close()
