"""The checker kit: small typed readers that know where a value sits and fail at its line.

Theory of operation
-------------------
A document is walked top-down.  Each value is read by a small reader that
knows where it sits (an ``_At``: its dotted name, such as
``students[2].seat``, and its line) and raises
:class:`~classroom.level.model.LevelError` through a ``_Check`` (which knows
the file) on the first fault: an unknown key (naming the allowed ones), a
wrong type, a value out of range.  Readers return the value they checked, so
the builder reads and checks in one step: ``_int(ck, value, at, minimum=1)``.

Nested shapes are declared rather than coded: a ``_Map`` of known keys (each
with its own spec), a ``_MapOf`` any keys (a key reader and one spec for the
values), a ``_ListOf`` one spec, a ``_OneOf`` several, and a leaf is a reader;
``_walk`` checks a value against such a spec.  A ``_Map`` also knows the keys
it *refuses*, each with the one sentence that says why (Istio has the field,
the class cannot act on it), and may end with a ``check`` of the rules that
tie its fields together (one of these, not both).  The schema of the mesh
resources (:mod:`classroom.level.schema`) is written this way.

Everything here is internal to :mod:`classroom.level`: the names keep their
leading underscore, although :mod:`~classroom.level.schema`,
:mod:`~classroom.level.build` and :mod:`~classroom.level.config` import them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from classroom.durations import parse_duration
from classroom.level.model import LevelError
from classroom.level.yamlines import line_of

_SLUG = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class _At:
    """Where a value sits: its dotted name (``students[2].seat``) and its line."""

    name: str
    line: int

    def key(self, mapping: Any, key: str) -> _At:
        name = f"{self.name}.{key}" if self.name else key
        return _At(name, line_of(mapping, key, self.line))

    def item(self, sequence: Any, index: int) -> _At:
        return _At(f"{self.name}[{index}]", line_of(sequence, index, self.line))


class _Check:
    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, line: int, message: str) -> NoReturn:
        raise LevelError(self.path, line, message)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__} ({value!r})"


def _show(value: Any) -> str:
    """A value as YAML would write it inline, for messages."""
    if isinstance(value, list):
        return "[" + ", ".join(v if isinstance(v, str) else _show(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else repr(value)


def _choices(values: Collection[str]) -> str:
    return ", ".join(values)


def _type_error(ck: _Check, value: Any, at: _At, wanted: str) -> NoReturn:
    ck.fail(at.line, f"{at.name} must be {wanted}, got {_describe(value)}")


def _mapping(
    ck: _Check,
    value: Any,
    at: _At,
    allowed: Collection[str],
    required: Collection[str] = (),
    refused: Mapping[str, str] | None = None,
) -> dict[Any, Any]:
    if not isinstance(value, dict):
        _type_error(ck, value, at, "a mapping (key: value)")
    for key in value:
        if refused and key in refused:
            _refuse(ck, at.key(value, key), refused[key])
        if key not in allowed:
            where = at.name or "the level"
            hint = (
                " (YAML reads a bare on/off/yes/no as true/false: quote it)" if isinstance(key, bool) else ""
            )
            ck.fail(
                line_of(value, key, at.line),
                f"{where} has an unknown key {_show(key)}{hint}; allowed: {_choices(allowed)}",
            )
    for key in required:
        if key not in value:
            where = at.name or "the level"
            ck.fail(at.line, f"{where} is missing {key!r}")
    return value


def _refuse(ck: _Check, at: _At, why: str) -> NoReturn:
    """A field Istio has and the class does not act on: refused at its line, with the reason."""
    ck.fail(at.line, f"{at.name} is not supported here: {why}")


def _list(ck: _Check, value: Any, at: _At, *, nonempty: bool = False) -> list[Any]:
    if not isinstance(value, list):
        _type_error(ck, value, at, "a list")
    if nonempty and not value:
        ck.fail(at.line, f"{at.name} is empty: it needs at least one entry")
    return value


def _text(ck: _Check, value: Any, at: _At) -> str:
    if not isinstance(value, str):
        hint = " (put it in quotes)" if isinstance(value, bool | int | float) else ""
        _type_error(ck, value, at, "text" + hint)
    return value


def _slug(ck: _Check, value: Any, at: _At) -> str:
    text = _text(ck, value, at)
    if not _SLUG.fullmatch(text):
        ck.fail(
            at.line,
            f"{at.name} {text!r} is not a valid name: use lowercase letters, digits "
            "and '-', starting with a letter and not ending with '-' (like 'ben' or "
            "'row-2'), at most 63 characters",
        )
    return text


def _choice(ck: _Check, value: Any, at: _At, choices: Collection[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        ck.fail(at.line, f"{at.name} must be one of {_choices(choices)}, got {_describe(value)}")
    return value


def _bool(ck: _Check, value: Any, at: _At) -> bool:
    if not isinstance(value, bool):
        _type_error(ck, value, at, "true or false")
    return value


def _int(ck: _Check, value: Any, at: _At, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _type_error(ck, value, at, "a whole number")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            ck.fail(at.line, f"{at.name} must be {minimum} or more, got {value}")
        if minimum is None:
            ck.fail(at.line, f"{at.name} must be {maximum} or less, got {value}")
        ck.fail(at.line, f"{at.name} must be between {minimum} and {maximum}, got {value}")
    return value


def _number(
    ck: _Check,
    value: Any,
    at: _At,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        _type_error(ck, value, at, "a number")
    number = float(value)
    if positive and number <= 0:
        ck.fail(at.line, f"{at.name} must be more than 0, got {_show(value)}")
    if minimum is not None and maximum is not None and not minimum <= number <= maximum:
        ck.fail(
            at.line, f"{at.name} must be between {_show(minimum)} and {_show(maximum)}, got {_show(value)}"
        )
    if minimum is not None and number < minimum:
        ck.fail(at.line, f"{at.name} must be {_show(minimum)} or more, got {_show(value)}")
    return number


def _probability(ck: _Check, value: Any, at: _At) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _type_error(ck, value, at, "a probability between 0 and 1")
    if not 0.0 <= value <= 1.0:
        ck.fail(at.line, f"{at.name} is a probability: it must be between 0 and 1, got {_show(value)}")
    return float(value)


def _duration(ck: _Check, value: Any, at: _At) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        _type_error(ck, value, at, "a duration like 400ms, 2s or 1m")
    try:
        return parse_duration(value)
    except ValueError as exc:
        ck.fail(at.line, f"{at.name}: {exc}")


def _seat(ck: _Check, value: Any, at: _At, rows: int, cols: int) -> tuple[int, int]:
    if not (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        _type_error(ck, value, at, "a seat [row, col] of two whole numbers")
    row, col = value
    if not (0 <= row < rows and 0 <= col < cols):
        ck.fail(
            at.line,
            f"{at.name} {_show(value)} is outside the room ({rows} rows x {cols} "
            f"cols: rows 0-{rows - 1}, cols 0-{cols - 1})",
        )
    return (row, col)


def _optional(mapping: Mapping[Any, Any], key: str, default: Any) -> Any:
    """``mapping[key]``; ``default`` when the key is missing or left empty."""
    value = mapping.get(key)
    return default if value is None else value


# --------------------------------------------------------------------------- declared shapes

_Reader = Callable[[_Check, Any, _At], Any]


@dataclass(frozen=True)
class _Map:
    """A mapping with known keys, each with its own spec.

    ``refused`` are keys the class refuses, each with the sentence that says why;
    ``check`` runs once every field has been read, for the rules between fields.
    """

    fields: Mapping[str, Any]
    required: tuple[str, ...] = ()
    refused: Mapping[str, str] = field(default_factory=dict)
    check: Callable[[_Check, dict[Any, Any], _At], None] | None = None


@dataclass(frozen=True)
class _MapOf:
    """A mapping whose keys are the writer's (label names, header names): a reader for each key, one spec."""

    key: _Reader
    value: Any


@dataclass(frozen=True)
class _ListOf:
    item: Any
    nonempty: bool = False


@dataclass(frozen=True)
class _OneOf:
    options: tuple[Any, ...]
    wanted: str


def _walk(ck: _Check, value: Any, at: _At, spec: Any) -> None:
    if isinstance(spec, _Map):
        mapping = _mapping(ck, value, at, tuple(spec.fields), spec.required, spec.refused)
        for key, child in mapping.items():
            _walk(ck, child, at.key(mapping, key), spec.fields[key])
        if spec.check is not None:
            spec.check(ck, mapping, at)
    elif isinstance(spec, _MapOf):
        if not isinstance(value, dict):
            _type_error(ck, value, at, "a mapping (key: value)")
        for key, child in value.items():
            key_at = at.key(value, key)
            spec.key(ck, key, key_at)
            _walk(ck, child, key_at, spec.value)
    elif isinstance(spec, _ListOf):
        items = _list(ck, value, at, nonempty=spec.nonempty)
        for index, child in enumerate(items):
            _walk(ck, child, at.item(items, index), spec.item)
    elif isinstance(spec, _OneOf):
        for option in spec.options:
            try:
                _walk(ck, value, at, option)
                return
            except LevelError:
                continue
        _type_error(ck, value, at, spec.wanted)
    else:
        spec(ck, value, at)
