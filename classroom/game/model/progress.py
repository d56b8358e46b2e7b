"""The player's progress: stars per level and which levels are open, saved per user.

Theory of operation
-------------------
Progress is one small JSON file, ``progress.json``, in the user's data folder
(``platformdirs.user_data_dir("classroom-mesh")``), or in the folder named by
the ``CLASSROOM_DATA_DIR`` environment variable (tests and portable installs
use it).  It maps level names to the best stars earned::

    {"format": 1, "stars": {"first-note": 3, "nosy-neighbours": 1}}

Stars come from a round's report (:func:`stars_for`): **3** when the round
passed (every objective met, ledger sound), **2** when exactly one objective
was missed, **1** when at least one objective was met, **0** otherwise.  A
level is open when it is the first, or when the level before it has been
passed (3 stars): the levels build on each other.  ``classroom play LEVEL``
opens any level directly.

The file is written atomically (a temporary file renamed over it); a file
that cannot be read costs one warning line and is replaced at the next save,
rather than stopping the game.  This module imports no pygame.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DATA_DIR_ENV = "CLASSROOM_DATA_DIR"
APP_NAME = "classroom-mesh"
FILE_NAME = "progress.json"
FORMAT = 1
MAX_STARS = 3


def data_dir() -> Path:
    """Where progress lives: ``$CLASSROOM_DATA_DIR``, else the platform's per-user data folder."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def stars_for(report: dict[str, Any]) -> int:
    """Stars a round earned: 3 passed, 2 one objective missed, 1 some met, 0 none met."""
    if report.get("passed"):
        return MAX_STARS
    objectives = report.get("objectives", [])
    met = sum(1 for o in objectives if o.get("passed"))
    missed = len(objectives) - met
    if missed == 1 and report.get("ledger_ok", True):
        return 2
    return 1 if met else 0


class Progress:
    """Best stars per level name, loaded from and saved to ``path``."""

    def __init__(self, path: Path, stars: dict[str, int] | None = None) -> None:
        self.path = path
        self.stars: dict[str, int] = dict(stars or {})

    @classmethod
    def load(cls, directory: Path | None = None) -> Progress:
        """The saved progress (empty when there is none yet, or when the file is unreadable)."""
        path = (directory or data_dir()) / FILE_NAME
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            _warn(f"{path}: cannot read saved progress ({_reason(exc)}); starting afresh")
            return cls(path)
        stars = doc.get("stars") if isinstance(doc, dict) else None
        if not isinstance(stars, dict):
            _warn(f"{path}: not a progress file (no \"stars\" object); starting afresh")
            return cls(path)
        clean = {str(name): min(MAX_STARS, max(0, int(n))) for name, n in stars.items()
                 if isinstance(n, int) and not isinstance(n, bool)}
        return cls(path, clean)

    def save(self) -> str | None:
        """Write the file; None, or one line saying why it could not be written."""
        doc = {"format": FORMAT, "stars": dict(sorted(self.stars.items()))}
        temp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
            os.replace(temp, self.path)
        except OSError as exc:
            return f"{self.path}: cannot save progress ({_reason(exc)})"
        return None

    def record(self, level: str, stars: int) -> bool:
        """Keep the best stars of ``level``; True when this is a new best."""
        stars = min(MAX_STARS, max(0, stars))
        if stars <= self.stars.get(level, -1):
            return False
        self.stars[level] = stars
        return True

    def stars_of(self, level: str) -> int:
        return self.stars.get(level, 0)

    def passed(self, level: str) -> bool:
        return self.stars.get(level, 0) >= MAX_STARS

    def unlocked(self, names: Sequence[str]) -> list[bool]:
        """For levels in play order: is each open? The first always is; then each after a pass."""
        return [i == 0 or self.passed(names[i - 1]) or self.passed(names[i]) for i in range(len(names))]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _warn(message: str) -> None:
    print(f"classroom: warning: {message}", file=sys.stderr)
