"""``classroom analyze``: lint a class's rules as ``istioctl analyze`` lints a cluster's, without running a round.

Theory of operation
-------------------
:func:`analyze` takes resources as written (a ``--config`` file's, a level's,
the window's editor's) and returns :class:`Message` s, never raising on a bad
resource:

1. every resource is checked on its own, as Istio's API server checks it
   (:func:`classroom.level.check_resource`); what it refuses becomes an
   IST0106 SchemaValidationError at the field's line, and that resource is
   left out of the steps below;
2. the analyzers read the rest together, with the level's students, seats,
   passing time and teacher when a level is given (:mod:`.rules` for names,
   selectors, subsets and conflicts; :mod:`.routes` for unreachable rules;
   :mod:`.room` for the class's own rules: retries that multiply hop by hop,
   timeouts shorter than the way, the teacher and plaintext).

Codes are Istio's where istioctl has the same check (IST0101, IST0106, IST0109,
IST0127, IST0130, IST0131, IST0167, IST0173, IST0174, with istioctl's
levels and words) and the class's own, CLS0001 up, for the class's own rules
(:data:`CODES`).  :func:`analyze_config` first merges a config into a level
as ``run --config`` does (a kind the level does not let the player edit is
CLS0012) and analyzes what would run.

Nothing here does I/O but :func:`read_config` reading the files it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from classroom.analyze import room, routes, rules
from classroom.analyze.context import DEFAULT_NAMESPACE, Context, Item
from classroom.analyze.messages import (
    CODES,
    ERROR,
    INFO,
    LEVELS,
    NOT_EDITABLE,
    SCHEMA_VALIDATION_ERROR,
    WARNING,
    Message,
    MessageType,
    render,
)
from classroom.level import Level, LevelError, check_resource, line_of, merge_editable
from classroom.level.yamlines import _parse_documents, _read_text

__all__ = ["CODES", "ERROR", "INFO", "LEVELS", "WARNING", "Message", "MessageType", "analyze", "analyze_config",
           "read_config"]

ANALYZERS = (
    rules.namespaces,
    rules.hosts,
    rules.conflicting_hosts,
    rules.selectors,
    rules.subsets,
    rules.outlier_detection,
    rules.weights,
    rules.peer_authentications,
    rules.principals,
    rules.methods,
    routes.unreachable_rules,
    room.retry_storms,
    room.teacher,
    room.nosy_hands,
    room.unmeshed,
    room.timeouts,
    room.budgets_without_retries,
)


def analyze(
    resources: Sequence[Any], level: Level | None = None, *, sources: Sequence[str | None] | str | None = None
) -> list[Message]:
    """Every message about ``resources`` (with ``level``: against its students and room), in file order.

    ``sources`` names the file of each resource (one name for all, or one per resource) for the
    messages' ``reference``; a resource's lines come from the YAML it was read from.
    """
    items, messages = _checked(resources, sources, level)
    return _analyzed(items, level, messages)


def analyze_config(
    resources: Sequence[Any], level: Level, *, sources: Sequence[str | None] | str | None = None
) -> list[Message]:
    """``resources`` as ``run LEVEL --config`` would run them: merged into ``level``'s editable kinds, analyzed."""
    items, messages = _checked(resources, sources, level)
    mine = [item.resource for item in items]
    first = next((item.source for item in items if item.source), None) or "<config>"
    try:
        merged = merge_editable(level, level.resources, mine, first)
    except LevelError as exc:
        merged = tuple(r for r in mine if r["kind"] in level.editable) + tuple(
            r for r in level.resources if r["kind"] not in level.editable)
        refused = Message(NOT_EDITABLE, exc.message, f"Level {level.name}",
                          exc.path if exc.path != "<config>" else None, exc.line)
        return [refused, *_analyzed(_items(merged, items, level), level, messages)]
    return _analyzed(_items(merged, items, level), level, messages)


def _items(merged: Sequence[dict[str, Any]], mine: list[Item], level: Level) -> list[Item]:
    """The merged resources as items: the config's with their files, the level's with the level's file."""
    source_of = {id(item.resource): item.source for item in mine}
    return [Item(r, source_of.get(id(r), level.path)) for r in merged]


def _checked(
    resources: Sequence[Any], sources: Sequence[str | None] | str | None, level: Level | None
) -> tuple[list[Item], list[Message]]:
    """The resources that pass Istio's shape check, and an IST0106 for each that does not."""
    files = [sources] * len(resources) if sources is None or isinstance(sources, str) else list(sources)
    namespace = level.name if level is not None else DEFAULT_NAMESPACE
    items, messages = [], []
    counters: dict[str | None, int] = {}
    for resource, source in zip(resources, files, strict=True):
        index = counters.get(source, 0)
        counters[source] = index + 1
        try:
            check_resource(resource, source or "<resources>", f"resources[{index}]")
        except LevelError as exc:
            messages.append(Message(SCHEMA_VALIDATION_ERROR, render(SCHEMA_VALIDATION_ERROR, exc.message),
                                    _origin(resource, namespace), source, exc.line or line_of(resource)))
            continue
        items.append(Item(resource, source))
    return items, messages


def _analyzed(items: list[Item], level: Level | None, messages: list[Message]) -> list[Message]:
    ctx = Context(items, level, messages)
    for analyzer in ANALYZERS:
        analyzer(ctx)
    return sorted(ctx.messages, key=lambda m: (m.path or "", m.line))  # stable: analyzers' order within a line


def read_config(path: str) -> list[Any]:
    """The resources of a config file as written (a YAML list, or documents of one resource or a list each).

    Raises :class:`LevelError` only when the file cannot be read or is not YAML; a resource's own
    faults are for :func:`analyze` to report.
    """
    resources: list[Any] = []
    for document, _, _ in _parse_documents(path, _read_text(path)):
        if isinstance(document, list):
            resources.extend(document)
        elif document is not None:
            resources.append(document)
    return resources


def _origin(resource: Any, namespace: str) -> str:
    """istioctl's name for a resource that may be broken: ``Kind namespace/name`` from what is there."""
    body: dict[str, Any] = resource if isinstance(resource, dict) else {}
    metadata: dict[str, Any] = body["metadata"] if isinstance(body.get("metadata"), dict) else {}
    kind = body["kind"] if isinstance(body.get("kind"), str) else "resource"
    name = metadata["name"] if isinstance(metadata.get("name"), str) else "unnamed"
    return f"{kind} {metadata.get('namespace') or namespace}/{name}"
