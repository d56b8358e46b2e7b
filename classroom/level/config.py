"""The player's mesh configuration (``--config FILE``): read, checked, and merged into the level.

Theory of operation
-------------------
A config file is a YAML list of resources, or YAML documents each holding
one resource (or a list of them).  Every resource is checked like a level's
(:mod:`classroom.level.schema`), named ``resources[i]`` in messages, at its
own line.  Against a level, its names must be the level's students or
services, and ``mesh.editable`` decides what the config may change.

That decision is made in one place, :func:`merge_editable`, for both ways a
player changes the rules: a ``--config`` file (:func:`load_config`) and the
window's config panel (:mod:`classroom.game.model.configedit`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from classroom.level.checks import _At, _Check, _describe
from classroom.level.model import Level
from classroom.level.schema import _resources, _roll
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

    Returns the configuration to run, as :func:`merge_editable` orders it.
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
    resources = _resources(ck, items, _roll(level.students, level.name, level.profile))
    return merge_editable(level, level.resources, resources, path)


def merge_editable(
    level: Level,
    current: Sequence[dict[str, Any]],
    mine: Sequence[dict[str, Any]],
    path: str = "<config>",
) -> tuple[dict[str, Any], ...]:
    """The resources to run: ``current`` (what stands now) with its editable part replaced by ``mine``.

    ``mine`` is the player's list of resources, already checked; the i-th is
    ``resources[i]`` in messages, at its own line (:func:`line_of`: the loader's
    resources remember it).  The kinds in ``level.editable`` are the player's:

    * resources of an editable kind replace those of ``current``: in place, so
      the order stays that of ``current`` (the i-th editable resource of
      ``current`` gives its place to the i-th editable one of ``mine``, in the
      order ``mine`` gives them); the ones ``current`` has no place for come at
      the end, and places ``mine`` does not fill are dropped;
    * resources of any other kind stay those of ``current``: ``mine`` may leave
      them out, or repeat one exactly as it stands (so a level's whole solution
      works as a config); one that is missing from ``current``, or differs from
      it, is refused at its line (:class:`~classroom.level.model.LevelError`);
    * a level that lists no editable kinds restricts nothing: ``mine`` is all.
    """
    if not level.editable:
        return tuple(mine)
    ck = _Check(path)
    fixed = {_identity(r): r for r in current if r["kind"] not in level.editable}
    for index, value in enumerate(mine):
        kind = value["kind"]
        if kind in level.editable:
            continue
        at = _At(f"resources[{index}]", line_of(value))
        name = value["metadata"]["name"]
        own = fixed.get(_identity(value))
        if own is None or own != value:
            ck.fail(
                at.line,
                f"{at.name} {'changes' if own is not None else 'adds'} the {kind} {name!r}, but level "
                f"{level.name} lets you edit only {', '.join(level.editable)}: leave it out to keep the "
                f"level's own {kind} resources",
            )
    fresh = iter([r for r in mine if r["kind"] in level.editable])
    merged: list[dict[str, Any]] = []
    for resource in current:
        if resource["kind"] not in level.editable:
            merged.append(resource)
            continue
        replacement = next(fresh, None)
        if replacement is not None:
            merged.append(replacement)
    merged.extend(fresh)
    return tuple(merged)


def _identity(resource: Mapping[str, Any]) -> tuple[str, str, str]:
    metadata = resource["metadata"]
    return (resource["kind"], metadata.get("namespace", ""), metadata["name"])
