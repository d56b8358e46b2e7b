"""The lecturer's desk in ``classroom teach``: live actions, targets, slow motion, type size, show of hands.

Theory of operation
-------------------
The window's live actions are the lecture script's own
(:class:`~classroom.mesh.runtime.lecture.Controls`): a student leaves or comes
back, her sidecar is killed, an aisle is cut, slowed or healed, the class-wide
mTLS mode is pushed live, room time runs slower.  :data:`ACTIONS` lists them
once, each with its key and its words, and the window shows the same list as
a menu (M) and on its keys.  :meth:`LectureDesk.call` turns one into the
control to call and its arguments, for the student and the aisle the lecturer
has chosen (Tab and ``[`` / ``]`` move through them), and the sentence the
screen shows.  The controls record each as an event of the round, as a
script's steps are.

The desk also keeps what lasts for the whole window: the type size (+/−,
:data:`TYPE_SCALES`), whether the speaker notes are shown, and the question
on screen with the show of hands the lecturer types in (:class:`Question`).
This module imports no pygame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from classroom.level import Level

RATES = (1.0, 0.5, 0.25, 0.1)  # slow motion, as shares of the round's speed (Z cycles them)
TYPE_SCALES = (0.8, 0.9, 1.0, 1.15, 1.3, 1.5, 1.75)  # the projector's type size (+/−); 1.0 is 28 px at 1080p
SLOW_BY = 0.3  # room seconds an aisle the lecturer slows adds to every pass


@dataclass(frozen=True)
class Action:
    name: str  # what LectureDesk.call knows it by
    key: str  # the key that does it (a letter), shown in the menu
    words: str  # the menu's words; {student} and {aisle} are the chosen ones
    target: str = ""  # "student", "aisle" or "" (the whole class)


ACTIONS = (
    Action("leave", "O", "{student} leaves the room", "student"),
    Action("back", "B", "{student} comes back", "student"),
    Action("kill", "K", "kill {student}'s sidecar", "student"),
    Action("cut", "C", "cut the aisle {aisle}", "aisle"),
    Action("slow", "D", "slow the aisle {aisle} (+300 ms)", "aisle"),
    Action("heal", "H", "heal the aisle {aisle}", "aisle"),
    Action("drops", "X", "{student} {drop_toggle}", "student"),
    Action("eavesdrop", "E", "the teacher {eavesdrop_toggle}"),
    Action("forge", "F", "the teacher {forge_toggle}"),
    Action("mtls", "T", "push mTLS {mode} to the whole class"),
    Action("solution", "P", "push the level's solution live (its retries, policies, weights)"),
    Action("rate", "Z", "slow motion: room time at {next_rate}"),
)
ACTION_KEYS = {action.key.lower(): action for action in ACTIONS}


def mtls_mode(resources: tuple[dict[str, Any], ...]) -> str:
    """The class-wide mTLS mode in force: the PeerAuthentication without a selector (Istio's default
    when there is none is PERMISSIVE)."""
    mode = "PERMISSIVE"
    for resource in resources:
        if resource.get("kind") == "PeerAuthentication" and not (resource.get("spec") or {}).get("selector"):
            mode = str(((resource.get("spec") or {}).get("mtls") or {}).get("mode") or mode)
    return mode


def class_wide(mode: str, resources: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """The class-wide PeerAuthentication set to ``mode``, named as the one in force (else ``default``)."""
    name = next(((r.get("metadata") or {}).get("name") for r in resources
                 if r.get("kind") == "PeerAuthentication" and not (r.get("spec") or {}).get("selector")), "default")
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": name or "default"}, "spec": {"mtls": {"mode": mode}}}


@dataclass
class Question:
    """An ``ask`` on screen: the answers, the hands the lecturer counted, whether the counts are shown."""

    text: str
    answers: tuple[str, ...]
    hands: list[int] = field(default_factory=list)
    chosen: int = 0  # the answer whose count the arrows change
    revealed: bool = False

    def __post_init__(self) -> None:
        self.hands = [0] * len(self.answers)

    def choose(self, index: int) -> bool:
        if 0 <= index < len(self.answers):
            self.chosen = index
            return True
        return False

    def count(self, step: int) -> None:
        self.hands[self.chosen] = max(0, min(999, self.hands[self.chosen] + step))

    def shares(self) -> list[float]:
        total = sum(self.hands)
        return [h / total if total else 0.0 for h in self.hands]


class LectureDesk:
    """What the lecturer has chosen, for one window (see the module docstring)."""

    def __init__(self) -> None:
        self.type_index = TYPE_SCALES.index(1.0)
        self.notes_shown = False
        self.menu_open = False
        self.menu_row = 0
        self.student = 0  # index into the level's students
        self.aisle = 0  # index into the room's links
        self.rate = 1.0
        self.question: Question | None = None
        self.step_notes = ""  # the lecture script's notes for the moment it is at ("notes:" of a step)
        self.dropping: set[str] = set()  # the students the lecturer told to drop every note (X)
        self.teacher: dict[str, bool] = {}  # the teacher's switches as the lecturer last set them (E, F)

    @property
    def type_scale(self) -> float:
        return TYPE_SCALES[self.type_index]

    def bigger(self, step: int) -> float:
        self.type_index = max(0, min(len(TYPE_SCALES) - 1, self.type_index + step))
        return self.type_scale

    # --- targets -------------------------------------------------------------------------------------
    def chosen_student(self, level: Level) -> str:
        students = [s.name for s in level.students]
        return students[self.student % len(students)] if students else ""

    def chosen_aisle(self, level: Level) -> tuple[str, str] | None:
        links = [tuple(sorted(link)) for link in level.room.links]
        if not links:
            return None
        a, b = links[self.aisle % len(links)]
        return str(a), str(b)

    def next_student(self, level: Level, step: int) -> str:
        self.student = (self.student + step) % max(1, len(level.students))
        return self.chosen_student(level)

    def next_aisle(self, level: Level, step: int) -> tuple[str, str] | None:
        self.aisle = (self.aisle + step) % max(1, len(level.room.links))
        return self.chosen_aisle(level)

    def next_rate(self) -> float:
        return RATES[(RATES.index(self.rate) + 1) % len(RATES)] if self.rate in RATES else 1.0

    # --- actions -------------------------------------------------------------------------------------
    def teacher_does(self, level: Level, switch: str) -> bool | None:
        """Whether the teacher now ``switch``es (eavesdrops, forges): as the lecturer last set it, else as
        the level has her; None when the class has no teacher."""
        if level.teacher is None:
            return None
        return self.teacher.get(switch, bool(getattr(level.teacher, switch)))

    def words(self, action: Action, level: Level, resources: tuple[dict[str, Any], ...]) -> str:
        aisle = self.chosen_aisle(level)
        student = self.chosen_student(level)
        listens, forges = self.teacher_does(level, "eavesdrops"), self.teacher_does(level, "forges")
        return action.words.format(student=student, aisle="–".join(aisle) if aisle else "(none)",
                                   mode="PERMISSIVE" if mtls_mode(resources) == "STRICT" else "STRICT",
                                   next_rate=f"×{self.next_rate():g}",
                                   drop_toggle="stops dropping notes" if student in self.dropping
                                   else "starts dropping every note",
                                   eavesdrop_toggle="(none in this class)" if listens is None
                                   else "stops reading the aisles" if listens else "starts reading the aisles",
                                   forge_toggle="(none in this class)" if forges is None
                                   else "stops forging notes" if forges else "starts forging notes")

    def call(self, action: Action, level: Level,
             resources: tuple[dict[str, Any], ...]) -> tuple[str, tuple[Any, ...], str] | None:
        """``(control, arguments, what the screen says)`` for ``action`` on the chosen targets;
        None when it has no target (a room without aisles)."""
        student, aisle = self.chosen_student(level), self.chosen_aisle(level)
        name = action.name
        if name == "leave":
            return "leave", (student,), f"Live: {student} leaves the room. Watch the office route around her."
        if name == "back":
            return "back", (student,), f"Live: {student} comes back to her desk."
        if name == "kill":
            return "kill", (student,), f"Live: {student}'s sidecar is killed (SIGKILL)."
        if name in ("cut", "slow", "heal"):
            if aisle is None:
                return None
            where = f"{aisle[0]}–{aisle[1]}"
            if name == "cut":
                return "cut", (aisle,), f"Live: the aisle {where} is cut: nothing crosses it."
            if name == "slow":
                return "slow", (aisle, SLOW_BY), f"Live: the aisle {where} is slowed by {SLOW_BY * 1000:.0f} ms."
            return "heal", (aisle,), f"Live: the aisle {where} is healed."
        if name == "drops":
            if student in self.dropping:
                self.dropping.discard(student)
                usual = level.student(student).behaviour.drops
                return "behave", (student, usual), f"Live: {student} stops dropping the notes she is handed."
            self.dropping.add(student)
            return ("behave", (student, 1.0),
                    f"Live: {student} drops every note she is handed. Watch retries and the routes around her.")
        if name in ("eavesdrop", "forge"):
            switch = "eavesdrops" if name == "eavesdrop" else "forges"
            now = self.teacher_does(level, switch)
            if now is None:
                return None
            self.teacher[switch] = not now
            what = ("reads every aisle she passes" if switch == "eavesdrops" else "slips forged notes in")
            return ("teacher_does", (switch, not now),
                    f"Live: the teacher {'no longer ' if now else ''}{what}.")
        if name == "mtls":
            mode = "PERMISSIVE" if mtls_mode(resources) == "STRICT" else "STRICT"
            return ("set", ((class_wide(mode, resources),),),
                    f"Live: mTLS {mode} pushed to the whole class; each proxy acknowledges the new version.")
        if name == "solution":
            if not level.solution:
                return None
            kinds = ", ".join(dict.fromkeys(str(r.get("kind")) for r in level.solution))
            return ("set", (tuple(level.solution),),
                    f"Live: the level's solution pushed ({kinds}); each proxy acknowledges the new version.")
        if name == "rate":
            self.rate = self.next_rate()
            return "slow_motion", (self.rate,), f"Slow motion: room time runs at ×{self.rate:g}."
        return None

    # --- the question ------------------------------------------------------------------------------
    def ask(self, question: str, answers: tuple[str, ...]) -> Question:
        self.question = Question(question, answers)
        return self.question
