"""Recordings: a round's events as JSON Lines, and reading them back.

Theory of operation
-------------------
``classroom run ... --record FILE`` writes every event the runner receives,
one JSON object per line, as it arrives (a round cut short by Ctrl-C or a
crash still leaves every line it had).  Events that concern one note name it
in their ``note`` field.  The runner adds two events of its own, so that a
recording stands alone:

* first, ``{"kind": "recording", ...}``: the format version, the level (name,
  room, students and seats, traffic, objectives), the seed and the speed;
* last, ``{"kind": "round_end", ...}``: whether the round timed out, and its
  processes.

:func:`read_recording` gives a :class:`Recording` back, and
:meth:`Recording.level` a stand-in :class:`~classroom.level.Level` rebuilt
from the header, so that :func:`classroom.report.build_report` judges a
replayed round exactly as it judged the live one.  A file that is not a
recording fails with one :class:`RecordingError` line naming the file and line.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from classroom.level import Behaviour, Level, Objective, Room, Student, Traffic

# Format 2: events' `t` is the round's room time (it runs at the round's speed); in format 1 it was
# wall-clock time.  A reader scales durations by `event_seconds_per_room_second`.
FORMAT = 2
HEADER, END = "recording", "round_end"


class RecordingError(Exception):
    """A recording that is missing or cannot be read; the message is one line."""


def header(level: Level, seed: int, speed: float, **extra: Any) -> dict[str, Any]:
    """The first event of a recording: what a replay needs to know about the round."""
    return {
        "kind": HEADER,
        "t": time.time(),
        "src": "runner",
        "format": FORMAT,
        "level": level.name,
        "title": level.title,
        "path": level.path,
        "profile": level.profile,
        "seed": seed,
        "speed": speed,
        "room": {"rows": level.room.rows, "cols": level.room.cols,
                 "passing_time": level.room.passing_time, "links": [list(lk) for lk in level.room.links]},
        "students": [{"name": s.name, "seat": list(s.seat), "absent": s.behaviour.absent,
                      "meshed": getattr(s, "meshed", True)} for s in level.students],
        "traffic": [{"from": t.sender, "to": t.to, "count": t.count, "every": t.every}
                    for t in level.traffic],
        "objectives": [{"metric": o.metric, "op": o.op, "value": o.value} for o in level.objectives],
        # Her patrol, so that a replay walks her where she walked.
        **({"teacher": {"patrol": [list(p) for p in level.teacher.patrol], "speed": level.teacher.speed}}
           if level.teacher is not None else {}),
        **extra,
    }


def time_scale(head: dict[str, Any]) -> float:
    """Seconds of a recording's event clock per room second (see :data:`FORMAT`)."""
    if int(head.get("format", FORMAT) or FORMAT) >= 2:
        return 1.0
    return 1.0 / (float(head.get("speed", 1.0) or 1.0))


class Recorder:
    """Writes a round's events to a JSON Lines file as they arrive."""

    def __init__(self, path: str | Path, first: dict[str, Any]) -> None:
        self.path = str(path)
        self._file: IO[str] | None = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.count = 0
        self._dump(first)

    def _dump(self, event: dict[str, Any]) -> None:
        assert self._file is not None
        self._file.write(json.dumps(event, separators=(",", ":"), default=str) + "\n")

    def write(self, event: dict[str, Any]) -> None:
        if self._file is not None:
            self._dump(event)
            self.count += 1

    def close(self, t: float | None = None, **end: Any) -> None:
        """Write the closing ``round_end`` event (at room time ``t``) and close the file (once)."""
        if self._file is None:
            return
        self._dump({"kind": END, "t": time.time() if t is None else t, "src": "runner", "events": self.count,
                    **end})
        self._file.close()
        self._file = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Recording:
    path: str
    header: dict[str, Any]  # empty for a plain event log without one
    events: list[dict[str, Any]]  # the round's events, without the runner's header and end
    end: dict[str, Any]

    @property
    def seed(self) -> int:
        return int(self.header.get("seed", 0))

    @property
    def speed(self) -> float:
        return float(self.header.get("speed", 1.0))

    @property
    def time_scale(self) -> float:
        """Seconds of the events' clock per room second: 1 since format 2, 1/speed before."""
        return time_scale(self.header)

    @property
    def processes(self) -> list[dict[str, Any]]:
        return list(self.end.get("processes", []))

    @property
    def students(self) -> list[str]:
        return [s["name"] for s in self.header.get("students", ())]

    @property
    def unmeshed(self) -> list[str]:
        """Students without a sidecar of the mesh: absent, or not meshed yet."""
        return [s["name"] for s in self.header.get("students", ())
                if s.get("absent") or not s.get("meshed", True)]

    def notes(self) -> list[str]:
        """The id of every note sent, in order."""
        return [e["note"] for e in self.events if e.get("kind") == "sent" and "note" in e]

    def level(self) -> Level:
        """A stand-in for the recorded level: enough for the report and its objectives."""
        h = self.header
        room = h.get("room", {})
        return Level(
            path=str(h.get("path", self.path)),
            name=str(h.get("level", Path(self.path).stem)),
            title=str(h.get("title", "")),
            concepts=(),
            lesson="",
            seed=self.seed,
            room=Room(int(room.get("rows", 0)), int(room.get("cols", 0)),
                      float(room.get("passing_time", 0.0)),
                      tuple((str(a), str(b)) for a, b in room.get("links", ()))),
            students=tuple(Student(s["name"], (int(s["seat"][0]), int(s["seat"][1])),
                                   Behaviour(absent=bool(s.get("absent"))))
                           for s in h.get("students", ())),
            teacher=None,
            traffic=tuple(Traffic(t["from"], t["to"], int(t["count"]), float(t["every"]), "")
                          for t in h.get("traffic", ())),
            profile=str(h.get("profile", "istio")),
            resources=(),
            editable=(),
            objectives=tuple(Objective(o["metric"], o["op"], float(o["value"]))
                             for o in h.get("objectives", ())),
            solution=None,
        )


def read_recording(path: str | Path) -> Recording:
    """Read a recording; :class:`RecordingError` (one line) when it is missing or malformed."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordingError(
            f"{name}: no such recording (write one with `classroom run ... --record FILE`)") from None
    except IsADirectoryError:
        raise RecordingError(f"{name}: is a directory, not a recording") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RecordingError(f"{name}: cannot read the recording: {reason}") from None
    lines = text.split("\n")
    events: list[dict[str, Any]] = []
    first: dict[str, Any] = {}
    end: dict[str, Any] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError as exc:
            if number == len(lines) and not text.endswith("\n") and events:
                break  # the last line of a round that was killed mid-write
            raise RecordingError(f"{name}:{number}: not a JSON event ({exc.msg} at column {exc.pos + 1})"
                                 if isinstance(exc, json.JSONDecodeError)
                                 else f"{name}:{number}: not a JSON event") from None
        if not isinstance(event, dict) or not isinstance(event.get("kind"), str):
            raise RecordingError(f"{name}:{number}: not an event (a JSON object with a \"kind\" field)")
        kind = event["kind"]
        if kind == HEADER:
            if event.get("format", FORMAT) != FORMAT:
                raise RecordingError(f"{name}:{number}: recording format {event.get('format')!r} "
                                     f"is not one this version reads ({FORMAT})")
            first = event
        elif kind == END:
            end = event
        else:
            events.append(event)
    if not first and not events:
        raise RecordingError(f"{name}: empty, not a recording")
    return Recording(name, first, events, end)
