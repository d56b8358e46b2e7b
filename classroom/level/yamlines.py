"""Reading YAML with its line numbers: level and config files become line-remembering data.

Theory of operation
-------------------
A level file (or a ``--config`` file) is parsed by ``_Loader``, a
``yaml.SafeLoader`` whose mappings are :class:`LineDict` and whose sequences
are :class:`LineList`: plain ``dict`` and ``list`` subclasses that also
remember the 1-based line of the node itself (``.line``) and of each key or
item (``.lines``).  The line maps travel with the data (the resources the mesh
receives are still ``LineDict``), so anything that finds a fault later can
still point at its line with :func:`line_of`.

Broken YAML, an empty file and a key given twice are reported here, as
:class:`~classroom.level.model.LevelError`; so are files that cannot be read.
``_read_text`` and ``_parse_documents`` are the package's own (the builder and
the config loader call them), not part of :mod:`classroom.level`'s API.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from classroom.level.model import LevelError


class LineDict(dict[Any, Any]):
    """A YAML mapping that remembers its own line (``line``) and each key's (``lines``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = 0
        self.lines: dict[Any, int] = {}


class LineList(list[Any]):
    """A YAML sequence that remembers its own line (``line``) and each item's (``lines``)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.line = 0
        self.lines: list[int] = []


def line_of(node: Any, key: Any = None, default: int = 0) -> int:
    """The line of ``node[key]`` (a key of a mapping, an index of a list), or of ``node``."""
    if key is None:
        return getattr(node, "line", default) or default
    lines = getattr(node, "lines", None)
    if isinstance(lines, dict):
        return lines.get(key, default)
    if isinstance(lines, list) and isinstance(key, int) and 0 <= key < len(lines):
        return lines[key]
    return default


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: str, path: str) -> None:
        super().__init__(stream)
        self.path = path

    def _construct_map(self, node: yaml.MappingNode) -> Iterator[LineDict]:
        data = LineDict()
        data.line = node.start_mark.line + 1
        yield data
        own = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
        self.flatten_mapping(node)
        merged = len(node.value) - own  # pairs merged in from `<<: *anchor` come first
        merged_keys: set[Any] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key = self.construct_object(key_node, deep=False)
            line = key_node.start_mark.line + 1
            try:
                hash(key)
            except TypeError:
                raise LevelError(
                    self.path, line, "a mapping key must be a plain word or number, not a list or a mapping"
                ) from None
            if key in data and key not in merged_keys:
                raise LevelError(
                    self.path,
                    line,
                    f"key {key!r} appears twice in one mapping (first on line {data.lines[key]})",
                )
            if index < merged:
                merged_keys.add(key)
            else:
                merged_keys.discard(key)
            data[key] = self.construct_object(value_node, deep=False)
            data.lines[key] = line

    def _construct_seq(self, node: yaml.SequenceNode) -> Iterator[LineList]:
        data = LineList()
        data.line = node.start_mark.line + 1
        yield data
        for child in node.value:
            data.append(self.construct_object(child, deep=False))
            data.lines.append(child.start_mark.line + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader._construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader._construct_seq)


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LevelError(path, 0, "no such file") from None
    except IsADirectoryError:
        raise LevelError(path, 0, "is a folder, not a file") from None
    except UnicodeDecodeError:
        raise LevelError(path, 0, "is not UTF-8 text") from None
    except OSError as exc:
        raise LevelError(path, 0, exc.strerror or str(exc)) from None


def _yaml_error(path: str, exc: yaml.YAMLError) -> LevelError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "broken YAML"
        if exc.context:
            problem = f"{problem} ({exc.context}"
            if exc.context_mark is not None and mark is not None and exc.context_mark.line != mark.line:
                problem += f" on line {exc.context_mark.line + 1}"
            problem += ")"
        return LevelError(path, mark.line + 1 if mark else 0, f"not valid YAML: {problem}")
    return LevelError(path, 0, f"not valid YAML: {exc}")


def _parse_documents(path: str, text: str) -> list[tuple[Any, int, int]]:
    """Every YAML document in ``text``: its data, its first line, the line of its ``---``."""
    loader = _Loader(text, path)
    documents: list[tuple[Any, int, int]] = []
    try:
        while loader.check_node():
            start = loader.peek_event().start_mark.line + 1
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there is one
                break
            documents.append((loader.construct_document(node), node.start_mark.line + 1, start))
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc) from None
    finally:
        loader.dispose()
    return documents
