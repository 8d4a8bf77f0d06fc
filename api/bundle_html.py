"""The tribunal bundle: the same export as a document a person reads.

Rendered from the JSON bundle alone, so anyone holding the bundle can render it again and
check it says the same thing. Date order (when it happened, then when it was recorded); an
index; numbered entries and printed page numbers; each entry with its sequence number and
digest (leaf hash), both dates, who recorded it; corrections shown beside what they
correct; redactions marked with their reason; a first page that says how to verify. A
subject-access export adds the request, the entries marked for third-party review (beside
each entry, and listed up front) and the pupil's access log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

_TEMPLATES = Path(__file__).parent / "templates"
_SKIP = {"happened_on", "recorded_at", "recorded_by"}


def render_bundle_html(bundle: dict[str, Any], digest: str) -> str:
    """HTML for a `chronicle-export/1` bundle whose SHA-256 digest is `digest`."""
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
    )
    entries = _in_date_order(bundle["events"])
    corrections: dict[int, list[dict[str, Any]]] = {}
    for event in bundle["events"]:
        if event["type"] == "EntryCorrected" and "payload" in event:
            corrections.setdefault(event["payload"]["corrects_seq"], []).append(event)
    subject_access = bundle.get("subject_access") or {}
    review = {mark["seq"]: mark for mark in subject_access.get("third_party_review", [])}
    access_log = bundle.get("access_log") or {}
    return env.get_template("bundle.html").render(
        bundle=bundle,
        digest=digest,
        entries=entries,
        corrections=corrections,
        details=_details,
        title=_title(bundle),
        subject_access=subject_access,
        review=review,
        access_events=[e for e in access_log.get("events", []) if "payload" in e],
        has_access_log="events" in access_log,
    )


def _in_date_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A redacted entry has no dates to show: it keeps its place after the entry before it.
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


def _title(bundle: dict[str, Any]) -> str:
    first = bundle["events"][0] if bundle["events"] else {}
    payload = first.get("payload") or {}
    if "legal_family_name" in payload:
        return f"{payload['legal_given_names']} {payload['legal_family_name']}"
    return f"pupil {bundle['pupil']}"
