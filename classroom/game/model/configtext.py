"""The class rules as YAML text, and paths into a resource.  No pygame.

Theory of operation
-------------------
A resource is a plain dict in Istio's shape, as a level file writes it.  The
form edits one setting of one resource at a time, named by a *path* (a tuple
of keys and list indexes, ``("spec", "http", 0, "timeout")``):
:func:`get_path` reads it (None when a step is missing) and :func:`put_path`
writes it, creating what is missing, or removes it (``None``) and prunes the
mappings the removal leaves empty, down to a floor that is never pruned.

The YAML face writes resources with :func:`to_yaml` (block style, keys in
their own order, short lists of names inline as the level files write them)
and reads the player's text back with :func:`load_text` through the level
loader itself, so a fault is reported at its line of the text in the
loader's own words (:class:`ConfigError`).
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterable
from typing import Any

import yaml

from classroom.level import LevelError, load_config

Resource = dict[str, Any]
PathKey = tuple[str | int, ...]


class ConfigError(Exception):
    """An edit that was not adopted: ``message`` says why.

    ``line`` is the 1-based line of the YAML text at fault (0 when no line
    applies, as for a form field); ``key`` the :attr:`Field.key` of the field at
    fault, when the edit came from the form.
    """

    def __init__(self, line: int, message: str, key: str | None = None) -> None:
        self.line = line
        self.message = message
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


# --------------------------------------------------------------------------- plain data and paths


def plain(value: Any) -> Any:
    """``value`` as plain dicts, lists and scalars (the loader's line-tracking types dropped)."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def get_path(node: Any, path: PathKey) -> Any:
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return None
        elif not isinstance(node, dict):
            return None
        node = node[step] if isinstance(step, int) else node.get(step)
    return node


def put_path(node: Any, path: PathKey, value: Any, floor: int) -> None:
    """Set ``node[path]`` creating what is missing; ``None`` deletes it and prunes empty parents.

    The node ``floor`` steps down the path, and those above it, are never pruned.
    """
    parents: list[Any] = []
    for index, step in enumerate(path[:-1]):
        parents.append(node)
        following = path[index + 1]
        blank: Any = [] if isinstance(following, int) else {}
        if isinstance(step, int):
            while len(node) <= step:
                node.append(copy.deepcopy(blank))
            node = node[step]
        else:
            if not isinstance(node.get(step), list | dict):
                node[step] = blank
            node = node[step]
    last = path[-1]
    if value is not None:
        if isinstance(last, int):
            while len(node) <= last:
                node.append(None)
        node[last] = value
        return
    if isinstance(last, int):
        if last < len(node):
            del node[last]
    else:
        node.pop(last, None)
    parents.append(node)
    for depth in range(len(path) - 1, floor, -1):
        if parents[depth]:
            break
        del parents[depth - 1][path[depth - 1]]


def path_text(path: PathKey) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# --------------------------------------------------------------------------- YAML


class _Dumper(yaml.SafeDumper):
    """Block style, but short lists of names inline (``hosts: [dana]``) as the level files write them."""

    def represent_list(self, data: Any) -> yaml.Node:  # type: ignore[override]
        flow = all(isinstance(item, str | int | float) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _Dumper.represent_list)


def to_yaml(resources: Iterable[Resource], header: str = "") -> str:
    """Resources as multi-document YAML, keys in their own order; ``header`` as comment lines on top."""
    body = yaml.dump_all(
        [plain(r) for r in resources],
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        explicit_start=True,
        allow_unicode=True,
        width=100,
    )
    return comment(header) + body


def comment(text: str) -> str:
    return "".join(f"# {line}\n" for line in text.splitlines())


def load_text(text: str) -> list[Resource]:
    """The resources in the player's YAML text, with their lines; :class:`ConfigError` when not readable."""
    if not "".join(line.split("#", 1)[0] for line in text.splitlines()).strip():
        return []  # only comments: no editable resources
    # The level loader reads files; a private temporary one keeps its line numbers and messages.
    fd, path = tempfile.mkstemp(prefix="classroom-config-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        return list(load_config(path))
    except LevelError as exc:
        raise ConfigError(exc.line, exc.message) from None
    finally:
        os.unlink(path)
