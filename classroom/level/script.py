"""Lecture scripts: the timed steps a lecturer prepares once and plays in every lecture.

Theory of operation
-------------------
A script is a YAML list of steps, checked like a level (every fault is one
``FILE:LINE: message`` :class:`~classroom.level.model.LevelError`) against the
level it is played with: a student it names must sit in that class, a link
must be one of the room's, the resources of a ``set`` must load as the level's
own would.  Each step is ``{at: DURATION, do: ACTION, ...}``:

* ``at`` — room time since the class started (optional: the step follows the
  one before it at once); steps must not go back in time;
* ``say`` — a sentence shown (and recorded) with the step, on any action;
* ``notes`` — speaker notes for this moment, on any action: shown to the
  lecturer only (behind ``teach``'s S key, with the level's ``speaker_notes``);
* ``pause`` (``for``: its wall-clock length; without one it lasts until a key
  in a window, and is skipped headless), ``resume``, ``step`` (``by``: room
  time to move on while paused, default one passing time), ``speed``
  (``rate``: slow motion, 0.1 to 1 of the round's speed);
* ``ask`` (``question``, two to four ``answers``), ``wait_key`` (a window
  waits for a key; headless, nothing), ``say`` alone;
* ``set`` (``resources``: a live rule push, applied as ``kubectl apply`` would:
  a resource of the same kind and name replaces the one in force, others are
  added);
* ``leave`` / ``back`` (``student``), ``kill`` (``student``: her sidecar
  dies), ``cut`` / ``heal`` / ``slow`` (``link: [A, B]``; ``slow`` takes
  ``latency``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from classroom.level.build import _level_resources
from classroom.level.checks import (
    _At,
    _bool,
    _Check,
    _choice,
    _duration,
    _list,
    _mapping,
    _number,
    _optional,
    _probability,
    _text,
)
from classroom.level.model import Level, LevelError
from classroom.level.yamlines import _parse_documents, _read_text

ACTIONS = ("pause", "resume", "step", "speed", "ask", "wait_key", "say", "set", "leave", "back", "kill",
           "cut", "heal", "slow", "behave", "teacher")
TEACHER_SWITCHES = ("eavesdrops", "catches", "forges")
_KEYS = {
    "pause": ("for",), "resume": (), "step": ("by",), "speed": ("rate",), "ask": ("question", "answers"),
    "wait_key": (), "say": (), "set": ("resources",), "leave": ("student",), "back": ("student",),
    "kill": ("student",), "cut": ("link",), "heal": ("link",), "slow": ("link", "latency"),
    "behave": ("student", "drops", "refuses"), "teacher": TEACHER_SWITCHES,
}
_REQUIRED = {"speed": ("rate",), "ask": ("question", "answers"), "set": ("resources",), "leave": ("student",),
             "back": ("student",), "kill": ("student",), "cut": ("link",), "heal": ("link",),
             "slow": ("link", "latency"), "say": ("say",), "behave": ("student",)}


@dataclass(frozen=True)
class Step:
    do: str
    line: int
    at: float | None = None  # room seconds since the class started; None: right after the step before
    say: str = ""
    notes: str = ""  # speaker notes for this moment: on the lecturer's screen only (teach: S)
    seconds: float | None = None  # pause: for (wall clock); step: by (room); slow: latency (room)
    rate: float | None = None
    question: str = ""
    answers: tuple[str, ...] = ()
    resources: tuple[dict[str, Any], ...] = ()
    student: str = ""
    link: tuple[str, str] | None = None
    behaviour: tuple[tuple[str, Any], ...] = ()  # behave: her drops / refuses; teacher: her switches


def shipped_lectures_dir() -> Path:
    """The lecture scripts the package carries (package data: ``classroom/data/lectures``)."""
    return Path(str(resources.files("classroom") / "data" / "lectures"))


def script_path(path: str) -> str:
    """``path`` itself, or, when there is no such file, the shipped lecture of that name (``nosy-neighbours``)."""
    if os.path.exists(path) or os.sep in path:
        return path
    shipped = shipped_lectures_dir() / (path if path.endswith(".yaml") else f"{path}.yaml")
    return str(shipped) if shipped.is_file() else path


def load_script(path: str, level: Level) -> tuple[Step, ...]:
    """The steps of the script at ``path`` (a file, or a shipped lecture's name), checked against ``level``."""
    path = script_path(path)
    documents = _parse_documents(path, _read_text(path))
    ck = _Check(path)
    if not documents or documents[0][0] is None:
        ck.fail(1, "the script is empty: a lecture script is a YAML list of steps ({at: 3s, do: pause, ...})")
    if len(documents) > 1:
        ck.fail(documents[1][2], "a lecture script is one YAML document (a list of steps)")
    value, line, _ = documents[0]
    top = _At("steps", line)
    items = _list(ck, value, top, nonempty=True)
    steps: list[Step] = []
    last_at = 0.0
    for index, item in enumerate(items):
        step = _step(ck, item, top.item(items, index), level)
        if step.at is not None:
            if step.at < last_at:
                ck.fail(step.line, f"steps[{index}].at goes back in time: {step.at:g} s comes after {last_at:g} s")
            last_at = step.at
        steps.append(step)
    return tuple(steps)


def _step(ck: _Check, item: Any, at: _At, level: Level) -> Step:
    if not isinstance(item, dict) or "do" not in item:
        if isinstance(item, dict) and "say" in item:
            item = {**item, "do": "say"}
        else:
            ck.fail(at.line, f"{at.name} must be a mapping with 'do' (one of {', '.join(ACTIONS)})")
    do = _choice(ck, item["do"], at.key(item, "do"), ACTIONS)
    entry = _mapping(ck, item, at, ("at", "do", "say", "notes", *_KEYS[do]), _REQUIRED.get(do, ()))
    fields: dict[str, Any] = {"do": do, "line": at.line}
    if "at" in entry:
        fields["at"] = _duration(ck, entry["at"], at.key(entry, "at"))
    fields["say"] = _text(ck, _optional(entry, "say", ""), at.key(entry, "say"))
    fields["notes"] = _text(ck, _optional(entry, "notes", ""), at.key(entry, "notes"))
    for key in ("for", "by", "latency"):
        if key in entry:
            fields["seconds"] = _duration(ck, entry[key], at.key(entry, key))
    if do == "speed":
        rate_at = at.key(entry, "rate")
        fields["rate"] = _number(ck, entry["rate"], rate_at, minimum=0.1, maximum=1.0)
    if do == "ask":
        fields["question"] = _text(ck, entry["question"], at.key(entry, "question"))
        answers_at = at.key(entry, "answers")
        answers = _list(ck, entry["answers"], answers_at)
        if not 2 <= len(answers) <= 4:
            ck.fail(answers_at.line, f"{answers_at.name} must have two to four answers, got {len(answers)}")
        fields["answers"] = tuple(_text(ck, a, answers_at.item(answers, i)) for i, a in enumerate(answers))
    if do == "set":
        fields["resources"] = _level_resources(ck, entry["resources"], at.key(entry, "resources"),
                                               level.students, level.name, level.profile)
    if "student" in entry:
        student_at = at.key(entry, "student")
        name = _text(ck, entry["student"], student_at)
        names = [s.name for s in level.students]
        if name not in names:
            ck.fail(student_at.line, f"{student_at.name} {name!r} is not a student of {level.name} "
                                     f"(students: {', '.join(names)})")
        fields["student"] = name
    if do == "behave":
        if "drops" not in entry and "refuses" not in entry:
            ck.fail(at.line, f"{at.name} (behave) says nothing to change: give drops (0 to 1) or refuses (true/false)")
        changes: list[tuple[str, Any]] = []
        if "drops" in entry:
            changes.append(("drops", _probability(ck, entry["drops"], at.key(entry, "drops"))))
        if "refuses" in entry:
            changes.append(("refuses", _bool(ck, entry["refuses"], at.key(entry, "refuses"))))
        fields["behaviour"] = tuple(changes)
    if do == "teacher":
        if level.teacher is None:
            ck.fail(at.line, f"{at.name} (teacher) has no one to act on: {level.name} has no teacher in the aisle")
        switches = [(key, _bool(ck, entry[key], at.key(entry, key))) for key in TEACHER_SWITCHES if key in entry]
        if not switches:
            ck.fail(at.line, f"{at.name} (teacher) says nothing to change: give one of {', '.join(TEACHER_SWITCHES)}")
        fields["behaviour"] = tuple(switches)
    if "link" in entry:
        link_at = at.key(entry, "link")
        pair = _list(ck, entry["link"], link_at)
        if len(pair) != 2 or not all(isinstance(p, str) for p in pair):
            ck.fail(link_at.line, f"{link_at.name} must be a pair of students, [A, B]")
        a, b = sorted(pair)
        if (a, b) not in {tuple(sorted(link)) for link in level.room.links}:
            ck.fail(link_at.line, f"{link_at.name} [{pair[0]}, {pair[1]}] is not a link of the room")
        fields["link"] = (a, b)
    return Step(**fields)


def merge(current: tuple[dict[str, Any], ...], pushed: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
    """``kubectl apply``: a pushed resource replaces the one of its kind and name, or is added."""
    def key(resource: dict[str, Any]) -> tuple[str, str]:
        return str(resource.get("kind")), str((resource.get("metadata") or {}).get("name"))

    replaced = {key(r): r for r in pushed}
    kept = [replaced.pop(key(r), r) for r in current]
    return (*kept, *replaced.values())


__all__ = ["ACTIONS", "LevelError", "Step", "load_script", "merge"]
