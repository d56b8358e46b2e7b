"""Frozen dataclasses to JSON and back, by their type hints: the policy's way over the wire.

The office compiles the class rules into one :class:`~classroom.mesh.control.policy.MeshPolicy`
(nested frozen dataclasses) and pushes it to every proxy as JSON.  :func:`dump`
is ``dataclasses.asdict``; :func:`load` rebuilds the dataclasses from the
field types (dataclasses, tuples, dicts, ``X | None``, plain values), so a new
field of the policy needs no hand-written decoding.  A value of the wrong
shape raises ``ValueError`` (the proxy reports it as the office's protocol
error).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, TypeVar, get_args, get_origin

T = TypeVar("T")


def dump(value: Any) -> Any:
    return dataclasses.asdict(value)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def prepare(hint: Any) -> None:
    """Read the type hints of ``hint`` and every dataclass inside it now (a launcher does this
    once before it forks, so no child pays for resolving them)."""
    for arg in get_args(hint):
        prepare(arg)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        for field_hint in _hints(hint).values():
            prepare(field_hint)


def load(cls: type[T], data: Any) -> T:
    """An instance of dataclass ``cls`` from its JSON form."""
    return _load(cls, data)


def _load(hint: Any, data: Any) -> Any:
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = get_args(hint)
        if data is None and type(None) in options:
            return None
        for option in options:
            if option is not type(None):
                return _load(option, data)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(data, dict):
            raise ValueError(f"{hint.__name__}: expected a mapping, got {type(data).__name__}")
        hints = _hints(hint)
        fields = {f.name for f in dataclasses.fields(hint)}
        return hint(**{k: _load(hints[k], v) for k, v in data.items() if k in fields})
    if origin is tuple:
        args = get_args(hint)
        if not isinstance(data, list | tuple):
            raise ValueError(f"expected a list, got {type(data).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_load(args[0], item) for item in data)
        return tuple(_load(arg, item) for arg, item in zip(args, data, strict=True))
    if origin is dict:
        key, item = get_args(hint)
        if not isinstance(data, dict):
            raise ValueError(f"expected a mapping, got {type(data).__name__}")
        return {_load(key, k): _load(item, v) for k, v in data.items()}
    if hint is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    if hint in (str, int, float, bool) and not isinstance(data, hint):
        raise ValueError(f"expected {hint.__name__}, got {type(data).__name__}")
    return data
