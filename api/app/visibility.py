"""Who sees which entry: one function for every reader and every disclosure.

`decide(policy, audience, entry)` is the only place the rule lives. The chronology (API, web
and CLI alike), its filters and the exports all ask it:

- A **reader** (a person in the app) sees an entry if the trust's policy lets their role
  read that kind, and always sees the entries they wrote themselves. Anything else is
  *masked* (kind and dates only), except for a teacher, from whom it is *omitted*: teachers
  see what they need and no more, not even that a restricted entry exists — unless the
  policy's `safeguarding.notify_staff_of_log` asks that staff be told of a safeguarding
  log, when a teacher sees the cross-reference masked (that one exists; ask the DSL). A filter on a
  field a masked entry hides (its author's role, its area of need) never matches it.
- A **recipient** (an export) gets every entry, except: entries the caller redacted, with
  the caller's reason; restricted kinds (safeguarding cross-references and whatever the
  policy restricts) unless the policy's disclosure rule includes them for the export's
  purpose; and, in a copy to parents, entries carrying third-party information. A DSL may
  release named entries into one export. A withheld entry keeps its commitment, so the
  bundle still verifies (docs/policies.md has the table per purpose).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from api.app.catalogue import ENTRY_KINDS
from domain.policy import IMPORTED_SAFEGUARDING_KIND, SAFEGUARDING_KIND, TrustPolicy
from domain.values import DisclosurePurpose, Role

# The pointers to a safeguarding log: what `notify_staff_of_log` tells staff exists.
SAFEGUARDING_KINDS = frozenset({SAFEGUARDING_KIND, IMPORTED_SAFEGUARDING_KIND})


class Shown(StrEnum):
    SHOWN = "shown"
    MASKED = "masked"  # kind, number and dates only
    OMITTED = "omitted"  # not listed at all


@dataclass(frozen=True)
class Reader:
    """A person reading the record in the app."""

    staff_id: str
    role: Role


@dataclass(frozen=True)
class Recipient:
    """Who an export goes to, why, and what the exporter chose to withhold or release."""

    purpose: DisclosurePurpose
    redactions: Mapping[int, str] = field(default_factory=dict)
    released: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Entry:
    """What the rule looks at: the kind, its number, who wrote it and (for exports) its
    payload, to tell whether a third-party field is filled in."""

    kind: str
    seq: int
    author_id: str | None = None
    payload: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Decision:
    shown: Shown
    reason: str | None = None  # why an export withholds it

    @property
    def visible(self) -> bool:
        return self.shown is Shown.SHOWN


SHOW = Decision(Shown.SHOWN)


def decide(policy: TrustPolicy, audience: Reader | Recipient, entry: Entry) -> Decision:
    """Whether `audience` sees `entry`, and if withheld from an export, why."""
    if isinstance(audience, Reader):
        return _for_reader(policy, audience, entry)
    return _for_recipient(policy, audience, entry)


def _for_reader(policy: TrustPolicy, reader: Reader, entry: Entry) -> Decision:
    if entry.author_id is not None and entry.author_id == reader.staff_id:
        return SHOW
    if entry.kind in policy.visible_kinds(reader.role.value):
        return SHOW
    if reader.role is Role.TEACHER:
        # Where the policy says staff are told of a safeguarding log (Harmony §11: a brief
        # note "to inform staff of a CPOMS log"), a teacher sees that one exists, with no
        # content (masked: kind and dates), and knows to ask the DSL; else nothing at all.
        if policy.safeguarding.notify_staff_of_log and entry.kind in SAFEGUARDING_KINDS:
            return Decision(Shown.MASKED)
        return Decision(Shown.OMITTED)
    return Decision(Shown.MASKED)


def _for_recipient(policy: TrustPolicy, recipient: Recipient, entry: Entry) -> Decision:
    chosen = recipient.redactions.get(entry.seq)
    if chosen is not None:
        return Decision(Shown.MASKED, chosen)
    if entry.seq in recipient.released:
        return SHOW
    purpose = recipient.purpose
    if entry.kind in policy.visibility.restricted and not discloses_restricted(policy, purpose):
        return Decision(
            Shown.MASKED,
            f"restricted entry ({entry.kind}): not disclosed for {purpose.value} under the "
            "trust's policy; the DSL decides what safeguarding information is shared",
        )
    if purpose is DisclosurePurpose.COPY_TO_PARENTS:
        fields = third_party_fields(entry)
        if fields:
            why = ENTRY_KINDS[entry.kind].why
            return Decision(
                Shown.MASKED,
                f"third-party information ({', '.join(fields)}: {why}): not in a copy for "
                "parents unless a DSL releases it",
            )
    return SHOW


def discloses_restricted(policy: TrustPolicy, purpose: DisclosurePurpose) -> bool:
    """Whether the policy's disclosure rule carries restricted entries for `purpose`."""
    return purpose.value in policy.disclosure.restricted_disclosed_for


def third_party_fields(entry: Entry) -> list[str]:
    """The entry's third-party fields that hold something (catalogue: `ENTRY_KINDS`)."""
    kind = ENTRY_KINDS.get(entry.kind)
    if kind is None or entry.payload is None:
        return []
    return [f for f in kind.third_party if entry.payload.get(f) not in (None, "", [])]
