"""What every analyzer reads: the resources that passed the shape check, where each came from, and the class.

An :class:`Item` is one resource with its file and its place in that file; a
:class:`Context` holds them all with the level (when one was given) and makes
each analyzer's :class:`~classroom.analyze.messages.Message`, with the
resource's origin as istioctl writes it (``Kind namespace/name``) and the
line of the field the message is about.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from classroom.analyze.messages import Message, MessageType
from classroom.level import STUDENT_LABEL, Level, line_of

DEFAULT_NAMESPACE = "default"  # the namespace of a resource that names none, read without a level


@dataclass(frozen=True)
class Item:
    resource: dict[str, Any]
    source: str | None = None

    @property
    def kind(self) -> str:
        return str(self.resource["kind"])

    @property
    def name(self) -> str:
        return str(self.resource["metadata"]["name"])

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.resource.get("spec") or {}

    def line(self, *path: str | int, root: str = "spec") -> int:
        """The line of the value at ``<root>.<path>`` (or of the nearest node above it that has one)."""
        node: Any = self.resource
        line = line_of(node)
        for step in (root, *path):
            there = (isinstance(node, dict) and step in node) or (
                isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)
            )
            if not there:
                break
            line, node = line_of(node, step, line), node[step]
        return line


@dataclass
class Context:
    items: list[Item]
    level: Level | None = None
    messages: list[Message] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return self.level.name if self.level is not None else DEFAULT_NAMESPACE

    def origin(self, item: Item) -> str:
        namespace = (item.resource.get("metadata") or {}).get("namespace") or self.namespace
        return f"{item.kind} {namespace}/{item.name}"

    def report(self, kind: MessageType, item: Item, text: str, *path: str | int, root: str = "spec") -> None:
        self.messages.append(Message(kind, text, self.origin(item), item.source, item.line(*path, root=root)))

    def of_kind(self, kind: str) -> Iterator[Item]:
        return (item for item in self.items if item.kind == kind)

    @property
    def hosts(self) -> set[str] | None:
        """What rules may name: every student and every service (``app`` label); None without a level."""
        if self.level is None:
            return None
        return {s.name for s in self.level.students} | {s.app for s in self.level.students}

    def workloads(self) -> list[dict[str, str]]:
        """Every student's labels as selectors see them (``app`` is her name unless the level says)."""
        assert self.level is not None
        return [{STUDENT_LABEL: s.name, **dict(s.labels)} for s in self.level.students]

    def students_of(self, host: str) -> list[str]:
        """The students who answer for ``host``: by name, or by their ``app`` label."""
        assert self.level is not None
        return [s.name for s in self.level.students if host in (s.name, s.app)]

    def workloads_of(self, host: str) -> list[dict[str, str]]:
        """The labels of the students who answer for ``host``: by name, or by their ``app`` label."""
        assert self.level is not None
        return [{STUDENT_LABEL: s.name, **dict(s.labels)} for s in self.level.students if host in (s.name, s.app)]
