"""Level files and mesh configurations: loading and validation, errors at FILE:LINE.

Theory of operation
-------------------
A level file goes through three steps, each in its own module:

1. **Read** (:mod:`~classroom.level.yamlines`): YAML into ``dict`` and
   ``list`` subclasses that remember the line of every key and item.
2. **Check** (:mod:`~classroom.level.checks`, :mod:`~classroom.level.schema`):
   small typed readers walk the document and fail at the first fault with
   its dotted place and line; mesh resources are checked against a schema of
   the Istio fields the class knows, then against the level's names.
3. **Build** (:mod:`~classroom.level.build`): what passes becomes the frozen
   dataclasses of :mod:`~classroom.level.model`; the seating graph must be
   connected.

:mod:`~classroom.level.files` finds levels (by file or by name),
:mod:`~classroom.level.config` reads a ``--config`` file and merges it into a
level.  There is exactly one error per failure, a :class:`LevelError`, and
``str(error)`` is ``FILE:LINE: message``.

This module re-exports the public names, so ``from classroom.level import
Level, load_level, LevelError`` is all a caller needs.
"""

from __future__ import annotations

from classroom.level.build import (
    API_VERSION,
    DEFAULT_EVERY,
    DEFAULT_METHOD,
    DEFAULT_PASSING_TIME,
    DEFAULT_PATH,
    DEFAULT_PROFILE,
    DEFAULT_SEED,
    KIND,
    METHODS,
    NEIGHBOURS,
    PROFILES,
)
from classroom.level.config import load_config, merge_editable
from classroom.level.files import LEVELS_ENV, default_levels_dir, list_levels, load_level
from classroom.level.istiovalues import RETRY_ON
from classroom.level.model import (
    AISLE_FAULT_KINDS,
    STUDENT_LABEL,
    AisleFault,
    Behaviour,
    Level,
    LevelError,
    Objective,
    Room,
    Student,
    Teacher,
    Traffic,
)
from classroom.level.networking import LOAD_BALANCERS
from classroom.level.schema import RESOURCE_KINDS, check_resource, validate_resources
from classroom.level.security import ACTIONS, MTLS_MODES, WHEN_KEYS
from classroom.level.yamlines import LineDict, LineList, line_of
from classroom.objectives import METRICS, OPS

__all__ = [
    "ACTIONS",
    "AISLE_FAULT_KINDS",
    "API_VERSION",
    "DEFAULT_EVERY",
    "DEFAULT_METHOD",
    "DEFAULT_PATH",
    "DEFAULT_PASSING_TIME",
    "DEFAULT_PROFILE",
    "DEFAULT_SEED",
    "KIND",
    "LEVELS_ENV",
    "LOAD_BALANCERS",
    "METHODS",
    "METRICS",
    "MTLS_MODES",
    "NEIGHBOURS",
    "OPS",
    "PROFILES",
    "RESOURCE_KINDS",
    "RETRY_ON",
    "STUDENT_LABEL",
    "AisleFault",
    "Behaviour",
    "Level",
    "LevelError",
    "LineDict",
    "LineList",
    "Objective",
    "Room",
    "Student",
    "Teacher",
    "Traffic",
    "WHEN_KEYS",
    "check_resource",
    "default_levels_dir",
    "line_of",
    "list_levels",
    "load_config",
    "load_level",
    "merge_editable",
    "validate_resources",
]
