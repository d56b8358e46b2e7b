"""The bundled fonts, loaded once per (kind, pixel size) while pygame is initialised."""

from __future__ import annotations

import functools

import pygame

from classroom.game.ui.theme import FONT_FILES


@functools.lru_cache(maxsize=128)
def font(kind: str, px: int) -> pygame.font.Font:
    """``kind`` is "sans", "bold" or "mono"; ``px`` the font size in pixels (at least 6)."""
    global _forgetting
    if not pygame.font.get_init():
        pygame.font.init()
    if not _forgetting:
        # A Font does not survive pygame.quit(); forget them all then, so the next call loads
        # afresh.  pygame calls a quit function once, so it is registered again after each quit.
        pygame.register_quit(_forget)
        _forgetting = True
    return pygame.font.Font(str(FONT_FILES[kind]), max(6, int(px)))


_forgetting = False


def _forget() -> None:
    global _forgetting
    font.cache_clear()
    _forgetting = False


FLOOR_PX = 0.0  # no font smaller than this (px at 720): the projector's "readable from the back"


def set_floor(px_at_720: float) -> None:
    """Draw no text smaller than ``px_at_720`` (0: no floor); ``classroom teach`` sets one."""
    global FLOOR_PX
    FLOOR_PX = px_at_720


def scaled(kind: str, px_at_720: float, scale: float) -> pygame.font.Font:
    """The font of a size given at 720 px window height (at least :data:`FLOOR_PX`), scaled for the
    current window."""
    return font(kind, round(max(px_at_720, FLOOR_PX) * scale))
