"""HTML forms generated from a command's pydantic body model, and the way back.

`fields_of(model)` describes each input (one per field; nested models become fieldsets);
`parse(model, form)` turns the posted form into the model or into messages per field. No
command has code of its own here: a new row in `api.http.commands.COMMANDS` gets its form.

Input names are the field path joined with dots: `source`, `outcomes.0.target`.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

from annotated_types import MaxLen
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

# Inputs for a list of nested models: this many blank groups are offered.
NESTED_ROWS = 3
# Strings longer than this get a textarea.
SHORT_TEXT = 200


@dataclass
class Field:
    """One input (or group of inputs) of a generated form."""

    name: str  # the input's name, e.g. "outcomes.0.target"
    label: str
    kind: str  # text, textarea, date, datetime, number, checkbox, select, checkboxes,
    # lines, group, groups
    required: bool = False
    hint: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    max_length: int | None = None
    children: list[Field] = field(default_factory=list)  # group: one set; groups: the rows
    rows: list[list[Field]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("_", "-")


# Words that are written in capitals (or their own way) wherever they appear.
_WORDS = {
    "sen": "SEN",
    "send": "SEND",
    "sendco": "SENDCo",
    "senco": "SENCo",
    "ehc": "EHC",
    "ehcp": "EHC plan",
    "la": "LA",
    "dsl": "DSL",
    "dpo": "DPO",
    "upn": "UPN",
    "cpoms": "CPOMS",
    "id": "id",
    "irt": "IRT",
    "sar": "SAR",
}


def humanise(name: str) -> str:
    """snake_case as people write it: "sen_support" -> "SEN support", "ehcp" -> "EHC plan"."""
    words = [_WORDS.get(w.lower(), w) for w in name.replace("_", " ").split()]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def option_label(value: str) -> str:
    return humanise(value) if value.islower() or "_" in value else value


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """The annotation without `| None`, and whether None was allowed."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _max_length(info: FieldInfo) -> int | None:
    for meta in info.metadata:
        if isinstance(meta, MaxLen):
            return int(meta.max_length)
    return None


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Enum)


def _literal_values(tp: Any) -> list[str] | None:
    if typing.get_origin(tp) is typing.Literal:
        return [str(v) for v in typing.get_args(tp)]
    return None


def _choices(tp: Any) -> list[tuple[str, str]] | None:
    if _is_enum(tp):
        return [(str(m.value), option_label(str(m.value))) for m in tp]
    literal = _literal_values(tp)
    if literal is not None:
        return [(v, option_label(v)) for v in literal]
    return None


def _list_item(tp: Any) -> Any | None:
    if typing.get_origin(tp) in (list, tuple, set, frozenset, Sequence):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return args[0] if args else str
    return None


def fields_of(model: type[BaseModel], prefix: str = "") -> list[Field]:
    """The inputs for `model`'s fields, in declaration order."""
    found = []
    for name, info in model.model_fields.items():
        found.append(_field(f"{prefix}{name}", name, info))
    return found


def _field(path: str, name: str, info: FieldInfo) -> Field:
    tp, optional = _unwrap_optional(info.annotation)
    required = info.is_required() and not optional
    label = info.title or humanise(name)
    hint = info.description or ""
    item = _list_item(tp)
    if item is not None:
        item, _ = _unwrap_optional(item)
        choices = _choices(item)
        if choices is not None:
            return Field(path, label, "checkboxes", required, hint, choices)
        if _is_model(item):
            rows = [fields_of(item, f"{path}.{i}.") for i in range(NESTED_ROWS)]
            return Field(path, label, "groups", required, hint, rows=rows)
        return Field(path, label, "lines", required, hint or "One per line.")
    if _is_model(tp):
        return Field(path, label, "group", required, hint, children=fields_of(tp, f"{path}."))
    choices = _choices(tp)
    if choices is not None:
        return Field(path, label, "select", required, hint, choices)
    if tp is bool:
        return Field(path, label, "checkbox", False, hint)
    if tp is date:
        return Field(path, label, "date", required, hint)
    if tp is datetime:
        return Field(path, label, "datetime", required, hint)
    if tp in (int, float):
        return Field(path, label, "number", required, hint)
    longest = _max_length(info)
    kind = "textarea" if tp is str and (longest is None or longest > SHORT_TEXT) else "text"
    if tp is UUID:
        kind = "text"
    return Field(path, label, kind, required, hint, max_length=longest)


# ----- from the posted form to the model ------------------------------------------------


class FormData:
    """A posted form: every value of every name, in order."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for key, value in pairs:
            self._values.setdefault(key, []).append(value)

    def get(self, name: str, default: str = "") -> str:
        values = self._values.get(name)
        return values[0] if values else default

    def all(self, name: str) -> list[str]:
        return list(self._values.get(name, []))

    def has(self, name: str) -> bool:
        return name in self._values

    def as_dict(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._values.items() if v}


def raw_values(model: type[BaseModel], form: FormData, prefix: str = "") -> dict[str, Any]:
    """The input to validate: blank optional inputs are left out, so defaults apply."""
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        tp, _ = _unwrap_optional(info.annotation)
        item = _list_item(tp)
        if item is not None:
            item, _ = _unwrap_optional(item)
            if _choices(item) is not None:
                data[name] = [v for v in form.all(path) if v]
            elif _is_model(item):
                rows = []
                for i in range(_row_count(form, path)):
                    row = raw_values(item, form, f"{path}.{i}.")
                    if any(_filled(v) for v in row.values()):
                        rows.append(row)
                data[name] = rows
            else:
                data[name] = [line.strip() for line in form.get(path).splitlines() if line.strip()]
        elif _is_model(tp):
            nested = raw_values(tp, form, f"{path}.")
            if any(_filled(v) for v in nested.values()) or info.is_required():
                data[name] = nested
        elif tp is bool:
            data[name] = form.has(path)
        else:
            value = form.get(path).strip() if tp is not str else form.get(path)
            if value.strip():
                data[name] = value.strip() if tp is not str else value
            elif info.is_required() and tp is str:
                data[name] = value
    return data


def _filled(value: Any) -> bool:
    if isinstance(value, bool):
        return False  # an unticked box is not an entry
    if isinstance(value, dict):
        return any(_filled(v) for v in value.values())
    if isinstance(value, list):
        return bool(value)
    return value not in (None, "")


def _row_count(form: FormData, path: str) -> int:
    count = NESTED_ROWS
    for key in form.as_dict():
        if key.startswith(f"{path}."):
            index = key[len(path) + 1 :].split(".", 1)[0]
            if index.isdigit():
                count = max(count, int(index) + 1)
    return min(count, 50)


@dataclass
class Parsed:
    body: BaseModel | None
    errors: dict[str, str]  # input name -> message ("" for the whole form)


def parse(model: type[BaseModel], form: FormData) -> Parsed:
    """Validate the posted form with the command's own model."""
    data = raw_values(model, form)
    try:
        return Parsed(model.model_validate(data), {})
    except ValidationError as e:
        return Parsed(None, messages(e, data))


def messages(error: ValidationError, data: Mapping[str, Any]) -> dict[str, str]:
    """One message per input name, worded for a person."""
    found: dict[str, str] = {}
    for problem in error.errors(include_url=False):
        loc = [str(p) for p in problem["loc"]]
        # A list of enums reports the item index; the message belongs to the list's input.
        name = ".".join(loc)
        while loc and name not in found and loc[-1].isdigit() and _is_choice_list(data, loc):
            loc = loc[:-1]
            name = ".".join(loc)
        text = _wording(problem)
        found[name] = f"{found[name]} {text}" if name in found else text
    return found


def _is_choice_list(data: Mapping[str, Any], loc: list[str]) -> bool:
    value: Any = data
    for part in loc[:-1]:
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _wording(problem: Any) -> str:
    kind = problem.get("type", "")
    ctx = problem.get("ctx") or {}
    if kind == "missing":
        return "This is required."
    if kind == "string_too_short":
        return "This is required." if ctx.get("min_length") == 1 else str(problem["msg"]) + "."
    if kind == "string_too_long":
        return f"Keep this to {ctx.get('max_length')} characters or fewer."
    if kind in ("date_from_datetime_parsing", "date_parsing", "date_type"):
        return "Enter a date as year-month-day, e.g. 2025-01-31."
    if kind == "enum":
        return f"Choose one of the options ({ctx.get('expected', '')})."
    if kind == "extra_forbidden":
        return "This input is not expected."
    message = str(problem.get("msg", "This is not valid."))
    message = message.removeprefix("Value error, ")
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
