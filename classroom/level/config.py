"""The player's mesh configuration (``--config FILE``): read, checked, and merged into the level.

Theory of operation
-------------------
A config file is a YAML list of resources, or YAML documents each holding
one resource (or a list of them).  Every resource is checked like a level's
(:mod:`classroom.level.schema`), named ``resources[i]`` in messages, at its
own line.  Against a level, its names must be the level's students or
services, and ``mesh.editable`` decides what the config may change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from classroom.level.checks import _At, _Check, _describe
from classroom.level.model import Level
from classroom.level.schema import _hosts, _resources, _workloads
from classroom.level.yamlines import _parse_documents, _read_text, line_of


def load_config(path: str, level: Level | None = None) -> tuple[dict[str, Any], ...]:
    """The player's mesh configuration (``--config FILE``).

    The file is a YAML list of resources, or YAML documents each holding one
    resource (or a list of them).  Without ``level`` the resources are only
    checked and returned.  With ``level``, hosts and selectors must name its
    students or services (``app`` labels), and ``mesh.editable`` holds:

    * resources of an editable kind replace the level's resources of that kind;
    * resources of any other kind stay the level's own (``mesh.resources``):
      the config may leave them out, or repeat one exactly as the level has it
      (so a level's whole solution works as a config); one that is missing from
      the level, or differs from it, is refused at its line;
    * a level that lists no editable kinds restricts nothing.

    Returns the configuration to run: the level's fixed resources, then the
    config's editable ones.
    """
    ck = _Check(path)
    documents = [(doc, line) for doc, line, _ in _parse_documents(path, _read_text(path)) if doc is not None]
    if not documents:
        ck.fail(
            1,
            "the configuration is empty: write a YAML list of resources "
            "(PeerAuthentication, VirtualService, ...), or [] for none",
        )
    items: list[tuple[Any, _At]] = []
    for doc, line in documents:
        if isinstance(doc, list):
            items += [
                (item, _At(f"resources[{len(items) + i}]", line_of(doc, i, line)))
                for i, item in enumerate(doc)
            ]
        elif isinstance(doc, dict):
            items.append((doc, _At(f"resources[{len(items)}]", line)))
        else:
            ck.fail(
                line,
                f"{path} must hold a YAML list of resources, or YAML documents that "
                f"are each a resource (a mapping), got {_describe(doc)}",
            )
    if level is None:
        return _resources(ck, items, None)
    resources = _resources(ck, items, _hosts(level.students), _workloads(level.students))
    if not level.editable:
        return resources
    return _within_editable(ck, level, items)


def _identity(resource: Mapping[str, Any]) -> tuple[str, str, str]:
    metadata = resource["metadata"]
    return (resource["kind"], metadata.get("namespace", ""), metadata["name"])


def _within_editable(ck: _Check, level: Level, items: list[tuple[Any, _At]]) -> tuple[dict[str, Any], ...]:
    """The level's resources of kinds it does not let the player edit, then the config's editable ones."""
    fixed = {_identity(r): r for r in level.resources if r["kind"] not in level.editable}
    chosen: list[dict[str, Any]] = []
    for value, at in items:
        kind = value["kind"]
        if kind in level.editable:
            chosen.append(value)
            continue
        name = value["metadata"]["name"]
        own = fixed.get(_identity(value))
        if own is None or own != value:
            ck.fail(
                at.line,
                f"{at.name} {'changes' if own is not None else 'adds'} the {kind} {name!r}, but level "
                f"{level.name} lets you edit only {', '.join(level.editable)}: leave it out to keep the "
                f"level's own {kind} resources",
            )
    return (*fixed.values(), *chosen)
