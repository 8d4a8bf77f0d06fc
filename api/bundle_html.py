"""The tribunal bundle: the same export as a document a person reads.

Rendered from the JSON bundle alone, so anyone holding the bundle can render it again and
check it says the same thing; and only from what verified: the renderer verifies the bundle
first (against the key it carries: this is the trust's own export) and refuses one that does
not verify, or a version 1 bundle, whose purpose, recipient and withheld reasons nothing
signs. Date order (when it happened, then when it was recorded); an index; numbered entries
and printed page numbers; each entry with its sequence number and digest (leaf hash), both
dates, who recorded it; corrections shown beside what they correct; a withheld entry shows
its reason and nothing else; a first page that says how to verify. A subject-access export
adds the request, the entries marked for third-party review (beside each entry, and listed
up front) and the pupil's access log.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.imports.history import provenance_text
from crypto.bundle_check import Unreadable, verify_bundle
from crypto.jcs import canonical_json
from crypto.manifest import FORMAT

_TEMPLATES = Path(__file__).parent / "templates"
_SKIP = {"happened_on", "recorded_at", "recorded_by", "imported_from"}


class UnverifiedBundle(ValueError):
    """The bundle does not verify (or signs too little to be shown): nothing is rendered."""


def render_bundle_html(bundle: dict[str, Any], digest: str) -> str:
    """HTML for a `chronicle-export/2` bundle whose SHA-256 digest is `digest`; raises
    `UnverifiedBundle` unless the bundle verifies against the key it carries."""
    bundle = _verified(copy.deepcopy(bundle), digest)  # the copy verified is the copy shown
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
    )
    events = [_entry(event) for event in bundle["events"]]
    corrections: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        if event["type"] == "EntryCorrected" and "payload" in event:
            corrections.setdefault(event["payload"]["corrects_seq"], []).append(event)
    subject_access = bundle.get("subject_access") or {}
    review = {mark["seq"]: mark for mark in subject_access.get("third_party_review", [])}
    access_log = bundle.get("access_log") or {}
    return env.get_template("bundle.html").render(
        bundle=bundle,
        digest=digest,
        entries=_in_date_order(events),
        corrections=corrections,
        details=_details,
        provenance=provenance_text,
        title=_title(events, bundle["pupil"]),
        subject_access=subject_access,
        review=review,
        access_events=[_entry(e) for e in access_log.get("events", [])],
        has_access_log="events" in access_log,
    )


def _verified(bundle: dict[str, Any], digest: str) -> dict[str, Any]:
    try:
        verdict = verify_bundle(bundle)
    except Unreadable as e:
        raise UnverifiedBundle(f"not a bundle: {e}") from None
    if verdict.failure is not None:
        raise UnverifiedBundle(f"the bundle does not verify: {verdict.failure}")
    if verdict.format != FORMAT:
        raise UnverifiedBundle(
            f"a {verdict.format} bundle signs no purpose, recipient or withheld reasons: "
            f"only {FORMAT} bundles are rendered"
        )
    if hashlib.sha256(canonical_json(bundle)).hexdigest() != digest:
        raise UnverifiedBundle("the digest given is not this bundle's digest")
    return bundle


def _entry(event: dict[str, Any]) -> dict[str, Any]:
    """What the page may show of an entry: a withheld entry has its reason and nothing else."""
    shown = {"seq": event["seq"], "type": event["type"], "leaf_hash": event.get("leaf_hash")}
    if event.get("redacted") is True:
        return {**shown, "withheld": True, "reason": event["reason"]}
    return {**shown, "withheld": False, "payload": event["payload"]}


def _in_date_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A withheld entry has no dates to show: it keeps its place after the entry before it.
    keyed, last = [], ("", "")
    for event in events:
        if "payload" in event:
            last = (event["payload"]["happened_on"], event["payload"]["recorded_at"])
        keyed.append(((*last, event["seq"]), event))
    return [event for _, event in sorted(keyed, key=lambda pair: pair[0])]


def _details(payload: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, value in payload.items():
        if key in _SKIP or value in (None, "", []):
            continue
        rows.append((key.replace("_", " "), _show(value)))
    return rows


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(_show(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')}: {_show(v)}" for k, v in value.items())
    return str(value)


def _title(events: list[dict[str, Any]], pupil: str) -> str:
    payload = (events[0].get("payload") if events else None) or {}
    if "legal_family_name" in payload:
        return f"{payload['legal_given_names']} {payload['legal_family_name']}"
    return f"pupil {pupil}"
