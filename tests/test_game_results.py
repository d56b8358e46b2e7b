"""The results screen tells the truth: why a round failed, in words, and the level's next hint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pygame
import pytest
from conftest import LEVELS

from classroom.game.model.progress import Progress
from classroom.game.ui.app import App, Options
from classroom.game.ui.scenes import results
from classroom.level import list_levels, load_level


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CLASSROOM_DATA_DIR", str(tmp_path / "data"))
    window = App(list_levels(), Options(), Progress.load())
    yield window
    window.close()


class Finished:
    """A round that is over, with the report a test chooses."""

    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report
        self.recording_path = ""

    def latencies(self) -> list[float]:
        return []


def failed_report() -> dict[str, Any]:
    return {"passed": False, "ledger_ok": True, "retries": 0, "latency_ms": {"p50": 0.0, "p99": 0.0},
            "notes": {"sent": 20, "delivered": 0, "failed": 20, "duplicates": 0, "in_flight": 0},
            "objectives": [{"metric": "teacher_read", "op": "==", "target": 0, "value": 20, "passed": False},
                           {"metric": "delivered_ratio", "op": ">=", "target": 0.95, "value": 0.0, "passed": False}],
            "failed_at": {"dana-v2": {"refused": 12}, "eli": {"UT": 8}}, "flags": {"UT": 8}}


def test_a_failed_round_says_why_in_words_and_offers_the_next_hint(app: App) -> None:
    level = load_level(str(LEVELS / "08-teacher-in-the-aisle.yaml"))
    scene: Any = app.switch("results", level=level, session=Finished(failed_report()), resources=level.resources)
    why = scene.why()
    assert "Missed: notes the teacher read = 0 (it was 20)" in why
    assert "Failed: 12 notes at dana-v2: a hand refused it" in why
    assert "Failed: 8 notes at eli: no answer in time (UT)" in why
    assert scene.hint == (1, level.hints[0])
    app.step()
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_h, mod=0, unicode="h"))
    app.step()
    assert scene.hint == (2, level.hints[1])
    # The next failed round of the level offers the hint after the last one shown.
    again: Any = app.switch("results", level=level, session=Finished(failed_report()), resources=level.resources)
    assert again.hint == (3, level.hints[2])


def test_no_delivered_note_says_so_instead_of_a_zero_delivery_time(app: App,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    level = load_level(str(LEVELS / "08-teacher-in-the-aisle.yaml"))
    scene: Any = app.switch("results", level=level, session=Finished(failed_report()), resources=level.resources)
    drawn: list[str] = []
    real = results.text

    def spy(surface: pygame.Surface, words: str, *args: Any, **kwargs: Any) -> pygame.Rect:
        drawn.append(words)
        return real(surface, words, *args, **kwargs)

    monkeypatch.setattr(results, "text", spy)
    scene.draw(app.surface)
    assert drawn.count("no note arrived") == 2 and "0 ms" not in drawn
    assert any(words.startswith("Hint 1 of 3:") for words in drawn)
