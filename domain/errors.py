"""Domain errors: every message is written for the SENDCo or operator who reads it."""

from __future__ import annotations


class DomainError(Exception):
    """A command was refused because it would break a rule of the record."""


class InvalidUPN(DomainError):
    pass


class InvalidEntry(DomainError):
    """The entry is malformed or contradicts what is already recorded."""


class DateOutOfRange(InvalidEntry):
    """A date is in the future, before the pupil was born, or before what it follows."""


class TransitionNotAllowed(InvalidEntry):
    """A register move the trust's policy or the census rule does not allow."""


class UnknownEntry(InvalidEntry):
    """The entry points at a plan, hold or entry that is not on the record."""


class OutOfOrder(InvalidEntry):
    """A step was recorded before the step it depends on (an EHC review before the plan)."""


class NotAllowedByPolicy(InvalidEntry):
    """The trust's policy does not use or does not allow this (a plan kind, a sub-flag)."""


class LegalHoldInForce(InvalidEntry):
    """A legal hold stops the records being purged until it is lifted."""


class PupilLeftTrust(InvalidEntry):
    """The pupil has left the trust; only record-keeping entries can still be added."""


class PupilPurged(DomainError):
    """The pupil's records were destroyed at the end of retention."""

    def __init__(self, pupil_id: object, purged_on: object | None = None) -> None:
        when = f" on {purged_on}" if purged_on is not None else ""
        super().__init__(
            f"records of pupil {pupil_id} were purged{when}; nothing can be read or added"
        )
        self.pupil_id = pupil_id
        self.purged_on = purged_on


class UnknownPupil(DomainError):
    """No pupil with this id (or UPN) is on the trust's records."""

    def __init__(self, pupil_id: object) -> None:
        super().__init__(f"no pupil with id {pupil_id}: check the id with `chronicle pupils list`")
        self.pupil_id = pupil_id
