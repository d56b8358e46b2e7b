"""Finding levels: the levels folder, a level by file or by name, and every level in order.

Theory of operation
-------------------
A level is named on the command line by its file (anything that looks like a
path: a ``.yaml``/``.yml`` suffix, a slash, or an existing file) or by its
name.  A name is looked up in the levels folder (:func:`default_levels_dir`:
the argument, else ``$CLASSROOM_LEVELS_DIR``, else the levels the package
ships, ``classroom/data/levels``, found with :mod:`importlib.resources` so
that an installed wheel finds them as a clone does; a clone also has them at
``levels/``, a symlink): first as a file stem (``03-lost-notes``), then as a
``metadata.name`` (``lost-notes``), reading every file of the folder.  A file
holds exactly one YAML document, built by :mod:`classroom.level.build`.
:func:`list_levels` loads them all, sorted by file name, and refuses two
levels with one name.  Paths in messages are relative to the working folder
when they are inside it.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from classroom.level.build import API_VERSION, _level
from classroom.level.checks import _choices
from classroom.level.model import Level, LevelError
from classroom.level.yamlines import _parse_documents, _read_text

LEVELS_ENV = "CLASSROOM_LEVELS_DIR"


def shipped_levels_dir() -> Path:
    """The levels the package carries (package data: ``classroom/data/levels``)."""
    # files() is a plain Path for a package installed in (or run from) a folder, as pip installs it.
    return Path(str(resources.files("classroom") / "data" / "levels"))


def _display_path(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it, for shorter messages."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def default_levels_dir(levels_dir: Path | None = None) -> Path:
    """The folder of levels: the argument, else $CLASSROOM_LEVELS_DIR, else the package's own levels."""
    if levels_dir is not None:
        return Path(levels_dir)
    env = os.environ.get(LEVELS_ENV)
    if env:
        return Path(env)
    return shipped_levels_dir()


def _level_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise LevelError(str(directory), 0, "no such levels folder")
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _load_file(path: str) -> Level:
    text = _read_text(path)
    documents = _parse_documents(path, text)
    if not documents:
        raise LevelError(
            path,
            1,
            f"the level is empty: a level is a YAML mapping that starts with apiVersion: {API_VERSION}",
        )
    if len(documents) > 1:
        raise LevelError(
            path,
            documents[1][2],
            "a level file holds one YAML document, this is a second one (remove the '---')",
        )
    document, line, _ = documents[0]
    return _level(path, document, line)


def load_level(path_or_name: str, levels_dir: Path | None = None) -> Level:
    """A level from a .yaml file, or by its name (or file stem) in the levels folder."""
    text = str(path_or_name)
    candidate = Path(text)
    if candidate.suffix in (".yaml", ".yml") or "/" in text or os.sep in text or candidate.is_file():
        return _load_file(text)
    directory = default_levels_dir(levels_dir)
    files = _level_files(directory)
    for file in files:
        if file.stem == text:
            return _load_file(_display_path(file))
    available: list[str] = []
    for file in files:
        try:
            level = _load_file(_display_path(file))
        except LevelError:
            continue
        if level.name == text:
            return level
        available.append(level.name)
    raise LevelError(
        text, 0, f"no level named {text!r} in {directory}; available: {_choices(available) or 'none'}"
    )


def list_levels(levels_dir: Path | None = None) -> list[Level]:
    """Every level of the levels folder, sorted by file name; names must be unique."""
    directory = default_levels_dir(levels_dir)
    levels: list[Level] = []
    seen: dict[str, str] = {}
    for file in _level_files(directory):
        level = _load_file(_display_path(file))
        if level.name in seen:
            raise LevelError(
                level.path,
                0,
                f"metadata.name {level.name!r} is already the name "
                f"of {seen[level.name]}: level names must be unique",
            )
        seen[level.name] = level.path
        levels.append(level)
    return levels
