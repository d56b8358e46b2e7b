"""Colours, fonts and sizes shared by every scene.

The note-state colours are Okabe and Ito's colour-blind-safe palette, and
every state also has its own envelope shape (see :data:`NOTE_SHAPES`), so no
state is told by colour alone.  Fonts are the DejaVu fonts the package
carries as package data in ``classroom/data/fonts`` (Bitstream Vera licence,
``classroom/data/fonts/LICENSE-DejaVu.txt``), found with
:mod:`importlib.resources`, so an installed wheel has them too; sizes are
given at 720 px of window height and scaled with the window.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# files() is a plain Path for a package installed in (or run from) a folder, as pip installs it.
FONTS = Path(str(resources.files("classroom") / "data" / "fonts"))
FONT_FILES = {
    "sans": FONTS / "DejaVuSans.ttf",
    "bold": FONTS / "DejaVuSans-Bold.ttf",
    "mono": FONTS / "DejaVuSansMono.ttf",
}

BASE_HEIGHT = 720  # sizes below are in pixels at this window height
MIN_SIZE = (1280, 720)

Colour = tuple[int, int, int]

# Okabe & Ito (2008), "Color Universal Design".
BLACK: Colour = (0, 0, 0)
ORANGE: Colour = (230, 159, 0)
SKY_BLUE: Colour = (86, 180, 233)
BLUISH_GREEN: Colour = (0, 158, 115)
YELLOW: Colour = (240, 228, 66)
BLUE: Colour = (0, 114, 178)
VERMILLION: Colour = (213, 94, 0)
REDDISH_PURPLE: Colour = (204, 121, 167)

# The room.
BACKGROUND: Colour = (30, 34, 42)
FLOOR: Colour = (44, 50, 61)
DESK: Colour = (150, 111, 74)
DESK_EDGE: Colour = (96, 68, 44)
DESK_ABSENT: Colour = (78, 78, 84)
TEXT: Colour = (236, 238, 242)
TEXT_DIM: Colour = (150, 156, 168)
PANEL: Colour = (22, 25, 31)
PANEL_EDGE: Colour = (70, 78, 92)
ACCENT: Colour = SKY_BLUE
GOOD: Colour = BLUISH_GREEN
BAD: Colour = VERMILLION

# Note states: colour and shape, both distinct.
NOTE_COLOURS: dict[str, Colour] = {
    "in_flight": SKY_BLUE,
    "delivered": BLUISH_GREEN,
    "dropped": ORANGE,
    "refused": VERMILLION,
    "confiscated": REDDISH_PURPLE,
    "retrying": YELLOW,
    "failed": (168, 168, 176),  # grey: no colour of its own to share with "refused", whose cross it has
}
NOTE_SHAPES: dict[str, str] = {
    "in_flight": "envelope",
    "delivered": "envelope_check",
    "dropped": "envelope_torn",
    "refused": "envelope_cross",
    "confiscated": "envelope_hand",
    "retrying": "envelope_arrow",
    "failed": "envelope_cross",
}

# Link lock badges.
LOCK_STRICT = "solid"  # mTLS only
LOCK_PERMISSIVE = "hollow"  # mTLS or plaintext
LOCK_PLAIN = "open"  # plaintext


def scale_for(height: int) -> float:
    """How much bigger than at 720 px everything is drawn in a window this tall."""
    return max(0.5, height / BASE_HEIGHT)
