"""The form's fields for Consul's ServiceIntentions: each source's name and action, each permission's. No pygame.

Theory of operation
-------------------
A ServiceIntentions (:mod:`classroom.level.consul`) is a destination and a
list of sources, each with an action or a list of permissions.  The form
shows, per source, its name and action, and per permission its action, path
(exact or prefix) and methods; plus one spare source and, per source, one
spare permission, so the form alone can add either.  A spare is created
whole by its first setting (a source named with ``action: allow``, a
permission with ``http.pathPrefix: /``), because a half-written one is
refused by the loader, as Consul refuses it.  Path regexes and header
matches are written in the YAML text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from classroom.game.model.configtext import PathKey, Resource, get_path, put_path
from classroom.level.consul import ACTIONS, METHODS

CHOICE, TEXT, NAMES = "choice", "text", "names"  # configfields' field kinds (it imports this module)
MakeSlot = Callable[..., Any]  # Form._slot


def _create(path: PathKey, whole: Callable[[Any], Any]) -> Callable[[list[Resource], int, Any], None]:
    def write(candidate: list[Resource], at: int, value: Any) -> None:
        if get_path(candidate[at], path[:-1]) is None:  # the spare: made whole, or left unmade
            if value is not None:
                put_path(candidate[at], path[:-1], whole(value), 1)
        else:
            put_path(candidate[at], path, value, len(path) - 1)

    return write


def intentions_slots(make: MakeSlot, index: int | None, resource: Resource, hosts: tuple[str, ...],
                     group: str) -> list[Any]:
    """The slots of one ServiceIntentions: its sources and their permissions, each with a spare."""
    slots: list[Any] = []
    sources = get_path(resource, ("spec", "sources")) or []
    for s in range(len(sources) + 1):
        at: PathKey = ("spec", "sources", s)
        label = f"source {s + 1}"
        name = make(index, resource, (*at, "name"), group, f"{label}: name", CHOICE, choices=("*", *hosts),
                    optional=True, floor=3, help="a service, or * for every one no other intention names")
        if s == len(sources):
            name.write = _create((*at, "name"), lambda v: {"name": v, "action": "allow"})
            slots.append(name)
            continue
        slots += [name, make(index, resource, (*at, "action"), group, f"{label}: action", CHOICE,
                             choices=ACTIONS, optional=True, floor=len(at),
                             help="an L4 intention's; leave it out where permissions decide")]
        permissions = get_path(resource, (*at, "permissions")) or []
        for p in range(len(permissions) + 1):
            pat: PathKey = (*at, "permissions", p)
            plabel = f"{label} permission {p + 1}"
            action = make(index, resource, (*pat, "action"), group, f"{plabel}: action", CHOICE, choices=ACTIONS,
                          optional=True, floor=len(at), help="read top to bottom: the first that matches decides")
            if p == len(permissions):
                action.write = _create((*pat, "action"), lambda v: {"action": v, "http": {"pathPrefix": "/"}})
                slots.append(action)
                continue
            http: PathKey = (*pat, "http")
            slots += [
                action,
                make(index, resource, (*http, "pathExact"), group, f"{plabel}: path is", TEXT, optional=True,
                     floor=len(http)),
                make(index, resource, (*http, "pathPrefix"), group, f"{plabel}: path starts", TEXT,
                     optional=True, floor=len(http)),
                make(index, resource, (*http, "methods"), group, f"{plabel}: methods", NAMES, optional=True,
                     floor=len(http), help=", ".join(METHODS)),
            ]
    return slots
