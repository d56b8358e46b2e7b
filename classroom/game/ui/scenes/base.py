"""The scene protocol, what a scene may ask of the app, and the registry of scenes by name.

Theory of operation
-------------------
A scene owns its input and its drawing.  The app calls, once a frame,
``handle(event)`` for each pygame event, then ``update()``, then
``draw(surface)``; ``leave()`` when it switches away from the scene.

Scenes never import one another.  Each scene module registers its class under
a name with :func:`register` (``@register("play")``), and a scene moves on by
asking its host for another scene by that name:
``self.app.switch("results", level=..., session=..., resources=...)`` (the
keywords are the next scene's constructor arguments after the host).  The
app imports every scene module once, in one place, which fills the registry
(:data:`SCENES`); :func:`scene_class` looks a name up.  A scene that keeps
another alive to come back to (replay's "back" to the results) passes the
instance itself to ``switch``.

A scene sees the app only through :class:`Host`, the few things scenes ask of
it (the levels, the options, progress, starting a round, switching, quitting),
so this module, and every scene, stays free of the app module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pygame

if TYPE_CHECKING:
    from classroom.game.model.lecturedesk import LectureDesk
    from classroom.game.model.progress import Progress
    from classroom.game.model.session import Session
    from classroom.level import Level


@dataclass(frozen=True)
class Options:
    """What the command line chose for every round of this window."""

    seed: int | None = None  # None: each level's own seed
    speed: float = 1.0
    teacher: bool = False  # teacher mode: every level open, the lesson narrated over the room
    script: tuple[Any, ...] = ()  # classroom teach --script: a lecture script's steps ...
    script_level: str = ""  # ... for this level's rounds
    record: str | None = None  # classroom teach --record: each round's recording copied here
    projector: bool = False  # classroom teach: projector type and theme, the lecturer's live actions


class Host(Protocol):
    """What a scene may ask of the app that shows it (:class:`classroom.game.ui.app.App`)."""

    levels: list[Level]
    options: Options
    progress: Progress
    hints_shown: dict[str, int]  # per level, how many of its hints this window has shown
    lecture_desk: LectureDesk  # teach: what the lecturer chose (type size, targets, the question)

    def switch(self, scene: str | Scene, **arguments: Any) -> Scene:
        """Show the scene registered as ``scene`` (made with ``arguments``), or that scene itself."""
        ...

    def quit(self, code: int = 0) -> None: ...

    def is_open(self, index: int) -> bool: ...

    def level_number(self, level: Level) -> str: ...

    def next_level(self, level: Level) -> Level | None: ...

    def start_session(self, level: Level, resources: tuple[dict[str, Any], ...], seed: int,
                      speed: float) -> Session: ...

    def record_result(self, level: Level, report: dict[str, Any]) -> tuple[int, bool, str | None]: ...


class Scene:
    """Base of every scene; ``name`` is the name it is registered under (what tests and screenshots call it)."""

    name = "scene"

    def __init__(self, app: Host) -> None:
        self.app = app

    def handle(self, event: pygame.event.Event) -> None:
        """One pygame event (keys, resizes); the default ignores it."""

    def update(self) -> None:
        """Once a frame, before drawing: read the clock, drain events."""

    def draw(self, surface: pygame.Surface) -> None:
        raise NotImplementedError

    def leave(self) -> None:
        """The app is switching away from this scene (or closing): let go of what it holds."""


SCENES: dict[str, type[Scene]] = {}
S = TypeVar("S", bound=type[Scene])


def register(name: str) -> Callable[[S], S]:
    """Class decorator: make the scene class known as ``name`` (and set its ``name``)."""

    def add(cls: S) -> S:
        known = SCENES.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"two scenes registered as {name!r}: {known.__qualname__} and {cls.__qualname__}")
        cls.name = name
        SCENES[name] = cls
        return cls

    return add


def scene_class(name: str) -> type[Scene]:
    """The scene class registered as ``name``; KeyError naming the known ones if there is none."""
    try:
        return SCENES[name]
    except KeyError:
        raise KeyError(f"no scene registered as {name!r} (known: {', '.join(sorted(SCENES))})") from None
