"""Who is asking: the person, the role they act in and the academies they cover."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID

from domain.values import Recorder, Role

if TYPE_CHECKING:
    from api.users import User


@dataclass(frozen=True)
class Caller:
    """The person a use case acts for. `academies` empty means the whole trust.

    The HTTP API and the web make one from the person's token (`of_user`); the command line
    runs on the installation, holds its keys, and acts for the staff id and role the
    operator gives, across the whole trust (`operator`; docs/permissions.md)."""

    staff_id: str
    role: Role
    academies: frozenset[str] = frozenset()
    user_id: UUID | None = None
    # The newest event-log position this person has seen written (their last write's,
    # returned to them with it, and sent back with a read that another worker may answer:
    # the `X-Chronicle-Position` header, or the web session). Reads show at least that.
    seen: int = 0

    @classmethod
    def of_user(cls, user: User) -> Caller:
        return cls(user.name, user.role, user.academies, user.user_id)

    @classmethod
    def operator(cls, staff_id: str, role: Role) -> Caller:
        return cls(staff_id, role, frozenset(), None)

    @property
    def trust_wide(self) -> bool:
        return not self.academies

    def covers(self, academy: str | None) -> bool:
        """Whether the caller's scope includes `academy` (None: not at any academy)."""
        if self.trust_wide:
            return True
        return academy is not None and academy in self.academies

    @property
    def recorder(self) -> Recorder:
        return Recorder(self.staff_id, self.role)

    def scope_text(self) -> str:
        return ", ".join(sorted(self.academies)) or "the whole trust"


class Access(StrEnum):
    """What a role may do in a use case (docs/permissions.md)."""

    ALLOWED = "allowed"  # any pupil of the trust, or no pupil involved
    ACADEMY = "academy"  # only pupils whose current academy the caller covers
    DENIED = "denied"


A, S, D = Access.ALLOWED, Access.ACADEMY, Access.DENIED
