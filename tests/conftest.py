"""Shared fixtures: small levels written on the fly, and a check that rounds leave nothing behind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
LEVELS = REPO / "levels"

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

# A row of six desks and a seventh behind the first: alice's notes to fay cross four hands.
ROW = {
    "alice": [0, 0],
    "ben": [0, 1],
    "cara": [0, 2],
    "dev": [0, 3],
    "eli": [0, 4],
    "fay": [0, 5],
    "gus": [1, 0],
}


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (its children, theirs ...), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def level_doc(
    name: str = "test-row",
    mode: str = "STRICT",
    traffic: list[dict[str, Any]] | None = None,
    behaviours: dict[str, dict[str, Any]] | None = None,
    seal: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A row of students; ``seal`` adds an EnvelopePolicy saying so (None: none, as the class's default)."""
    behaviours = behaviours or {}
    students = []
    for student, seat in ROW.items():
        entry: dict[str, Any] = {"name": student, "seat": seat}
        if student in behaviours:
            entry["behaviour"] = behaviours[student]
        students.append(entry)
    doc: dict[str, Any] = {
        "apiVersion": "classroom.mesh/v1",
        "kind": "Level",
        "metadata": {"name": name, "title": "A test row"},
        "seed": 7,
        "room": {"rows": 2, "cols": 6, "passing_time": "0ms", "links": "neighbours"},
        "students": students,
        "traffic": traffic
        if traffic is not None
        else [
            {"from": "alice", "to": "fay", "count": 20, "every": "10ms", "text": "Lunch at the fountain?"},
            {"from": "gus", "to": "dev", "count": 10, "every": "10ms", "text": "Homework?"},
        ],
        "mesh": {
            "profile": "istio",
            "resources": [
                {
                    "apiVersion": "security.istio.io/v1",
                    "kind": "PeerAuthentication",
                    "metadata": {"name": "default"},
                    "spec": {"mtls": {"mode": mode}},
                },
            ],
        },
        "objectives": [{"metric": "delivered_ratio", "op": ">=", "value": 1.0}],
    }
    if seal is not None:
        doc["mesh"]["resources"].append({"apiVersion": "classroom.mesh/v1", "kind": "EnvelopePolicy",
                                         "metadata": {"name": "default"}, "spec": {"seal": seal}})
    doc.update(extra)
    return doc


@pytest.fixture
def write_level(tmp_path: Path):
    def write(doc: dict[str, Any] | None = None, **kwargs: Any) -> Path:
        path = tmp_path / f"{kwargs.get('name', 'test-row')}.yaml"
        path.write_text(yaml.safe_dump(doc if doc is not None else level_doc(**kwargs), sort_keys=False))
        return path

    return write
