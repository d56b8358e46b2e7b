"""The bundled fonts: present with their licence, and usable again after pygame restarts."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pygame  # noqa: E402

from classroom.game.ui import fonts, theme  # noqa: E402


def test_every_font_file_is_bundled_with_its_licence() -> None:
    for path in theme.FONT_FILES.values():
        assert path.is_file() and path.stat().st_size > 100_000, path
    assert "Bitstream" in (theme.FONTS / "LICENSE-DejaVu.txt").read_text()


def test_fonts_draw_text_again_after_pygame_quits_and_restarts() -> None:
    pygame.init()
    assert fonts.font("bold", 20).size("Alice")[0] > 0
    pygame.quit()
    pygame.init()
    try:
        text = fonts.scaled("bold", 20, 1.0).render("Alice", True, theme.TEXT)
        assert text.get_width() > 20
    finally:
        pygame.quit()
    pygame.init()  # and again: every quit forgets the fonts, not only the first
    try:
        assert fonts.scaled("bold", 20, 1.0).render("Alice", True, theme.TEXT).get_width() > 20
    finally:
        pygame.quit()
