"""Frame time of the play scene: the classroom and the HUD, drawn from a model fed by events.

    python bench/frame_time.py [--quick] [--json]

Two scenes, each measured beside a baseline in the same run (SDL's dummy video driver, drawing
into an off-screen surface of the window's size, so no vsync caps the rate):

  small   40 desks (5 x 8), 500 notes in flight, 1280 x 720    target >= 240 FPS
  large   200 desks (10 x 20), 5,000 notes in flight, 1920 x 1080    target >= 60 FPS

A *scene* frame is what the play scene does each frame: feed the model the events that came in
since the last frame (a note reaching the end of its hop is forwarded, or delivered and replaced
by a fresh note, so the count in flight stays put; now and then a classmate peeks or a hand
retries, so moments are on screen), ``ClassModel.tick``, ``ClassroomView.draw``, the moments,
the legend, the ticker and ``draw_hud``, then the app's collection of the frame's garbage
(``FrameCollector``: the young generations only; automatic collection is off while the window
runs, as it is in the app).  The *baseline* frame is the raw drawing of the same things with no model or
view: a fill, the desks as rectangles, one envelope sprite blitted per note (``fblits``) at
positions computed beforehand, and the HUD panel as a rectangle.  Scene and baseline frames
alternate in rounds so machine noise hits both alike.  Each row reports FPS (frames / seconds of
the measured frames), the 99th percentile frame time, and the ratio scene / baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402

from classroom.game.model.classmodel import ClassModel  # noqa: E402
from classroom.game.ui import theme  # noqa: E402
from classroom.game.ui.collector import FrameCollector  # noqa: E402
from classroom.game.ui.hud import draw_hud  # noqa: E402
from classroom.game.ui.moments_view import LEGEND_WIDTH, draw_legend, draw_moments, draw_ticker  # noqa: E402
from classroom.game.ui.view import ClassroomView, envelope  # noqa: E402
from classroom.report import percentile  # noqa: E402

HUD_WIDTH = 300  # at 720 px of height, as the play scene lays it out
PASSING = 0.5  # seconds per hop on the events' clock
FRAME_DT = 1 / 120  # events' time advanced per frame: a steady stream, whatever the frame rate


@dataclass(frozen=True)
class Scene:
    name: str
    rows: int
    cols: int
    notes: int
    size: tuple[int, int]
    target_fps: float


SCENES = (Scene("small", 5, 8, 500, (1280, 720), 240.0), Scene("large", 10, 20, 5000, (1920, 1080), 60.0))


def header(rows: int, cols: int) -> dict[str, Any]:
    names = [f"s{r:02d}{c:02d}" for r in range(rows) for c in range(cols)]
    links = [[f"s{r:02d}{c:02d}", f"s{r:02d}{c + 1:02d}"] for r in range(rows) for c in range(cols - 1)]
    links += [[f"s{r:02d}{c:02d}", f"s{r + 1:02d}{c:02d}"] for r in range(rows - 1) for c in range(cols)]
    return {"kind": "recording", "t": 0.0, "format": 1, "level": "bench", "title": "Bench", "path": "bench",
            "profile": "istio", "seed": 1, "speed": 1.0,
            "room": {"rows": rows, "cols": cols, "passing_time": PASSING, "links": links},
            "students": [{"name": n, "seat": [i // cols, i % cols], "absent": False, "meshed": True}
                         for i, n in enumerate(names)],
            "traffic": [], "objectives": [{"metric": "delivered_ratio", "op": ">=", "value": 0.95},
                                          {"metric": "teacher_read", "op": "==", "value": 0}]}


class Stream:
    """Plays the events of a busy round into a model: ``count`` notes always in flight."""

    def __init__(self, model: ClassModel, count: int, seed: int = 1) -> None:
        self.model = model
        self.rng = random.Random(seed)
        self.names = list(model.desks)
        self.serial = 0
        self.now = 0.0
        for link in (*model.links,):
            model.apply({"kind": "link_up", "t": 0.0, "hand": link[0], "peer": link[1], "tls": "TLSv1.3"})
        model.apply({"kind": "teacher_moved", "t": 0.0, "at": [1.0, 1.0], "watching": []})
        for i in range(count):  # staggered, so hops end on every frame rather than all at once
            self._send(-PASSING * i / count)

    def _send(self, t: float) -> None:
        self.serial += 1
        frm, to = self.rng.sample(self.names, 2)
        self.model.apply({"kind": "sent", "t": t, "note": f"n{self.serial}", "from": frm, "to": to})

    def step(self) -> None:
        """Advance the events' clock a frame and send the events that happened meanwhile."""
        self.now += FRAME_DT
        now = self.now
        model = self.model
        arrived = [n for n in model.notes.values()
                   if n.ended is None and n.hop is not None and now - n.hop_start >= PASSING]
        for note in arrived:
            hand = note.hop[1] if note.hop else note.at
            if hand == note.recipient:
                model.apply({"kind": "delivered", "t": now, "note": note.id, "hand": hand})
                model.apply({"kind": "result", "t": now, "note": note.id, "from": note.sender, "to": hand,
                             "state": "delivered", "latency": now - note.hop_start, "attempts": 1})
                self._send(now)
            else:
                model.apply({"kind": "forwarded", "t": now, "note": note.id, "hand": hand, "attempt": 1})
                if self.rng.random() < 0.01:  # a moment, now and then, at the hand it reached
                    model.apply({"kind": "peeked", "t": now, "note": note.id, "hand": hand, "readable": False,
                                 "saw": "01f057496edf91a8c28bac364b1b7cc6"})


def measure(scene: Scene, seconds: float, rounds: int) -> dict[str, float]:
    w, h = scene.size
    screen = pygame.display.set_mode(scene.size)
    frame = pygame.Surface(scene.size).convert()
    scale = theme.scale_for(h)
    hud_w = round(HUD_WIDTH * scale)
    legend_w = round(LEGEND_WIDTH * scale)
    ticker_h = round(82 * scale)
    room = pygame.Rect(0, 0, w - hud_w - legend_w, h - ticker_h)
    legend = pygame.Rect(room.right, 0, legend_w, room.h)
    ticker = pygame.Rect(0, room.bottom, room.w, ticker_h)
    hud = pygame.Rect(w - hud_w, 0, hud_w, h)

    model = ClassModel.from_header(header(scene.rows, scene.cols))
    model.judge.background = True  # as the play scene has it
    collector = FrameCollector()
    stream = Stream(model, scene.notes)
    view = ClassroomView(model)

    def scene_frame() -> None:
        stream.step()
        model.tick(stream.now)
        frame.fill(theme.BACKGROUND)
        view.draw(frame, room, scale)
        draw_moments(frame, view, model, scale)
        draw_legend(frame, legend, model.moments, scale)
        draw_ticker(frame, ticker, model.moments, scale)
        draw_hud(frame, hud, model, scale, show_legend=False)
        collector.after_frame()  # as the app does after each frame

    # The baseline: the same rectangles and sprites, positions computed before timing.
    view.layout(room, scale)
    desk_rects = [view.seat_rect(name) for name in model.desks]
    sprite = envelope("envelope", theme.NOTE_COLOURS["in_flight"], 22, 15)
    rng = random.Random(2)
    spots = [[(rng.uniform(0, room.w), rng.uniform(0, room.h)) for _ in range(scene.notes)] for _ in range(8)]
    blits: list[tuple[pygame.Surface, tuple[float, float]]] = []
    tick = [0]

    def baseline_frame() -> None:
        frame.fill(theme.FLOOR)
        for r in desk_rects:
            frame.fill(theme.DESK, r)
        blits.clear()
        blits.extend((sprite, p) for p in spots[tick[0] % len(spots)])
        tick[0] += 1
        frame.fblits(blits)
        frame.fill(theme.PANEL, hud)

    for _ in range(30):  # warm up: caches, fonts, the static layer
        scene_frame()
        baseline_frame()
    times: dict[str, list[float]] = {"scene": [], "baseline": []}
    per_round = seconds / rounds / 2
    for _ in range(rounds):
        for name, draw in (("scene", scene_frame), ("baseline", baseline_frame)):
            end = time.perf_counter() + per_round
            samples = times[name]
            while True:
                start = time.perf_counter()
                draw()
                stop = time.perf_counter()
                samples.append(stop - start)
                if stop >= end:
                    break
        pygame.event.pump()
        screen.blit(frame, (0, 0))
        pygame.display.flip()
    collector.close()
    in_flight = sum(1 for n in model.notes.values() if n.ended is None)
    scene_fps = len(times["scene"]) / sum(times["scene"])
    base_fps = len(times["baseline"]) / sum(times["baseline"])
    return {
        "scene_fps": round(scene_fps, 1),
        "baseline_fps": round(base_fps, 1),
        "ratio": round(scene_fps / base_fps, 3),
        "scene_p99_ms": round(percentile(times["scene"], 99) * 1000, 3),
        "baseline_p99_ms": round(percentile(times["baseline"], 99) * 1000, 3),
        "in_flight": in_flight,
        "target_fps": scene.target_fps,
        "meets_target": scene_fps >= scene.target_fps,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="about 20 s instead of about 50 s")
    parser.add_argument("--json", action="store_true", help="end with one line of JSON")
    args = parser.parse_args(argv)
    seconds, rounds = (6.0, 3) if args.quick else (20.0, 5)
    pygame.init()
    results: dict[str, dict[str, float]] = {}
    print(f"{'scene':<8}{'desks':>6}{'notes':>7}{'size':>11}{'FPS':>9}{'p99 ms':>9}{'baseline':>10}"
          f"{'p99 ms':>9}{'ratio':>7}{'target':>8}")
    for scene in SCENES:
        r = measure(scene, seconds, rounds)
        results[scene.name] = r
        size = f"{scene.size[0]}x{scene.size[1]}"
        print(f"{scene.name:<8}{scene.rows * scene.cols:>6}{int(r['in_flight']):>7}{size:>11}"
              f"{r['scene_fps']:>9.0f}{r['scene_p99_ms']:>9.2f}{r['baseline_fps']:>10.0f}"
              f"{r['baseline_p99_ms']:>9.2f}{r['ratio']:>7.2f}"
              f"{'>=' + format(scene.target_fps, '.0f'):>8}{'' if r['meets_target'] else '  (missed)'}",
              flush=True)
    pygame.quit()
    if args.json:
        print(json.dumps({f"{name}_{key}": value for name, r in results.items() for key, value in r.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
