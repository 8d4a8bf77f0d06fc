"""Jinja filters: dates and codes as people read them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import jinja2

from api.imports.history import provenance_text
from api.web.forms import humanise


def long_date(value: date | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value.day} {value:%b %Y}"


def moment(value: datetime | str | None) -> str:
    """A recorded-at time: "17 Oct 2023, 13:39 UTC"."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return f"{long_date(value.date())}, {value:%H:%M} UTC"


def kind_label(kind: str) -> str:
    """ConcernRaised -> Concern raised; EHCPlanIssued -> EHC plan issued."""
    words: list[str] = []
    current = ""
    for i, ch in enumerate(kind):
        nxt = kind[i + 1] if i + 1 < len(kind) else ""
        if ch.isupper() and current and (not current[-1].isupper() or nxt.islower()):
            words.append(current)
            current = ""
        current += ch
    if current:
        words.append(current)
    shown = [w if w.isupper() and len(w) > 1 else w.lower() for w in words]
    text = " ".join(shown)
    return text[:1].upper() + text[1:]


def code(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return humanise(text) if text.islower() or "_" in text else text


def install_filters(env: jinja2.Environment) -> None:
    env.filters["long_date"] = long_date
    env.filters["moment"] = moment
    env.filters["kind_label"] = kind_label
    env.filters["code"] = code
    env.filters["humanise"] = humanise
    env.filters["provenance"] = provenance_text
