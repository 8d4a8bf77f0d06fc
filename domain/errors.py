"""Domain errors: every message is written for the SENDCo or operator who reads it."""

from __future__ import annotations


class DomainError(Exception):
    """A command was refused because it would break a rule of the record."""


class InvalidUPN(DomainError):
    pass


class InvalidEntry(DomainError):
    """The entry is malformed or contradicts what is already recorded."""


class DateOutOfRange(InvalidEntry):
    pass


class TransitionNotAllowed(InvalidEntry):
    pass


class UnknownEntry(InvalidEntry):
    pass


class PupilPurged(DomainError):
    """The pupil's records were destroyed at the end of retention."""

    def __init__(self, pupil_id: object, purged_on: object | None = None) -> None:
        when = f" on {purged_on}" if purged_on is not None else ""
        super().__init__(
            f"records of pupil {pupil_id} were purged{when}; nothing can be read or added"
        )
        self.pupil_id = pupil_id
        self.purged_on = purged_on
