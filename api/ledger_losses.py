"""Acknowledging a loss of the log (after a restore): two DPOs, exactly what verify names.

`chronicle ledger acknowledge-loss` records, signed with the trust's checkpoint key, that
the journalled checkpoints this database does not hold are a known loss (the record and
what it excuses: `projections.ledger_losses`). Refused, with nothing recorded: the same
person twice; anyone who is not a data-protection officer on the installation's users
(`chronicle users add NAME --role dpo`, not revoked); no reason; no unacknowledged loss;
or a range other than the one `chronicle ledger verify` names.
"""

from __future__ import annotations

from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine

from api.users import Users
from domain.errors import DomainError
from domain.values import Role
from projections.ledger import Ledger
from projections.ledger_audit import audit
from projections.ledger_losses import LossBook, LossRecord, sign_loss

MAX_REASON = 500


class LossRefused(DomainError):
    """The acknowledgement was refused; nothing was recorded."""


def acknowledge_loss(
    engine: Engine,
    ledger: Ledger,
    key: Ed25519PrivateKey,
    *,
    from_size: int,
    to_size: int,
    reason: str,
    by: str,
    second: str,
    now: datetime,
    settle: float = 2.0,
) -> LossRecord:
    """Sign and record the acknowledgement of the ledger's unacknowledged loss."""
    reason, by, second = reason.strip(), by.strip(), second.strip()
    if not reason:
        raise LossRefused("give --reason: why the loss is known (e.g. the restore and its ticket)")
    if len(reason) > MAX_REASON:
        raise LossRefused(f"--reason is longer than {MAX_REASON} characters")
    if not by or not second:
        raise LossRefused("give --by and --second: the staff ids of two DPOs")
    if by == second:
        raise LossRefused(
            "the same person cannot acknowledge a loss twice: a second DPO must (--second)"
        )
    users = {u.name: u for u in Users(engine).everyone()}
    for who in (by, second):
        user = users.get(who)
        if user is None or user.role is not Role.DPO or user.revoked_at is not None:
            raise LossRefused(
                f"{who!r} is not a data-protection officer among this installation's users "
                "(`chronicle users add NAME --role dpo`): two DPOs acknowledge a loss"
            )
    book = LossBook.beside(engine, ledger)
    ledger.integrate()
    report = audit(ledger, acknowledged=book.acknowledged(), settle=settle)
    loss = report.loss
    if loss is None:
        raise LossRefused(
            "the ledger shows no unacknowledged loss: nothing to acknowledge "
            "(`chronicle ledger verify` says what it finds)"
        )
    if (from_size, to_size) != (loss.from_size, loss.to_size):
        raise LossRefused(
            f"the unacknowledged loss is from size {loss.from_size} to size {loss.to_size}, "
            f"not from {from_size} to {to_size}: acknowledge exactly what "
            "`chronicle ledger verify` names; nothing was recorded"
        )
    record = sign_loss(
        key, loss, log_size=report.leaves, reason=reason, by=by, second=second, at=now
    )
    book.record(record)
    return record
