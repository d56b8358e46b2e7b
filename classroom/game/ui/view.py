"""The classroom drawn from a :class:`~classroom.game.model.classmodel.ClassModel`.

Theory of operation
-------------------
:class:`ClassroomView` draws the room into a rectangle of a surface at a UI
scale.  Seats form a grid fitted into the rectangle; a seat ``(row, col)``
maps to the centre of its cell, and so does the teacher's fractional
position.  A frame is three layers:

1. the **static layer**: floor, aisles (links) with their lock badge, desks
   with names and state tags.  It is rendered once into its own surface and
   re-rendered only when the model's ``version`` (desks or links changed),
   the rectangle's size or the scale changes;
2. the **notes**: one envelope sprite per note, pre-rendered per state and
   size (shape *and* colour per state, :data:`~classroom.game.ui.theme.NOTE_SHAPES`)
   and blitted in one :meth:`pygame.Surface.fblits` call.  A note on hop
   a→b sits at ``progress`` along its lane, the aisle shifted a little to
   one side per direction so notes passing each other do not hide each other;
3. the **teacher**: her figure, the reach within which she watches links, the
   links she watches, and her speech bubble (cached per text).

Nothing here changes the model; :meth:`ClassroomView.seat_rect` and
:meth:`ClassroomView.desk_center` say where things were drawn, for tests and
for the scenes that put labels next to desks.
"""

from __future__ import annotations

import math

import pygame

from classroom.game.model.classmodel import ClassModel, Note
from classroom.game.ui import art, theme
from classroom.game.ui.fonts import scaled
from classroom.level.seating import REACH

Point = tuple[float, float]

# The teacher: a colour none of the note states uses, and drawn as a figure, not an envelope.
TEACHER: theme.Colour = (245, 245, 245)
TEACHER_EDGE: theme.Colour = (20, 20, 24)
BUBBLE: theme.Colour = (250, 250, 240)
BUBBLE_TEXT: theme.Colour = (20, 20, 24)
AISLE_UP: dict[str, theme.Colour] = {
    "mtls": theme.BLUISH_GREEN,
    "permissive": theme.SKY_BLUE,
    "plain": theme.ORANGE,
    "unknown": theme.TEXT_DIM,
}
AISLE_DOWN: theme.Colour = (78, 84, 96)
DESK_TAGS = {"absent": "absent", "refusing": "refuses", "ejected": "ejected", "unmeshed": "no sidecar"}
DESK_FILL = {"present": theme.DESK, "absent": theme.DESK_ABSENT, "refusing": theme.DESK,
             "ejected": theme.DESK_ABSENT, "unmeshed": theme.DESK}
DESK_EDGES = {"present": theme.DESK_EDGE, "absent": theme.PANEL_EDGE, "refusing": theme.VERMILLION,
              "ejected": theme.VERMILLION, "unmeshed": theme.YELLOW}


class ClassroomView:
    """Draws a model's room; one instance per play scene (it caches what it rendered)."""

    def __init__(self, model: ClassModel) -> None:
        self.model = model
        self.rect = pygame.Rect(0, 0, 0, 0)
        self.scale = 1.0
        self.cell = (1.0, 1.0)
        self._origin = (0.0, 0.0)
        self._centers: dict[str, Point] = {}
        # Keyed by hop; a held note's hop is None, which is no lane: one lookup answers both.
        self._lanes: dict[tuple[str, str] | None, tuple[float, float, float, float]] = {}
        self._static: pygame.Surface | None = None
        self._static_key: tuple[int, int, int, float] | None = None
        self._sprites: dict[str, pygame.Surface] = {}
        self._sprite_half = (0, 0)
        self._bubble_key: tuple[str, str, float] | None = None
        self._bubble: pygame.Surface | None = None
        self._blits: list[tuple[pygame.Surface, Point]] = []
        self.teacher_boxes: list[pygame.Rect] = []  # her figure and bubble as last drawn (kept clear)
        self.name_bands: list[pygame.Rect] = []
        self._bubble_at: tuple[pygame.Surface, pygame.Rect] | None = None

    # --- where things are ---------------------------------------------------------------------------
    def layout(self, rect: pygame.Rect, scale: float) -> None:
        """Fit the seat grid into ``rect``; called by :meth:`draw`, or directly before asking positions."""
        rect = pygame.Rect(rect)
        if rect == self.rect and scale == self.scale and self._centers:
            return
        self.rect, self.scale = rect, scale
        m = self.model
        rows, cols = max(m.rows, 1), max(m.cols, 1)
        for desk in m.desks.values():  # a header may name seats outside the declared grid
            rows, cols = max(rows, desk.seat[0] + 1), max(cols, desk.seat[1] + 1)
        cw, ch = rect.w / cols, rect.h / rows
        self.cell = (cw, ch)
        self._origin = (rect.x + cw / 2, rect.y + ch / 2)
        self._centers = {name: self.seat_point(*desk.seat) for name, desk in m.desks.items()}
        self._lanes = {}
        shift = min(cw, ch) * 0.06
        for a, b in m.links:
            for src, dst in ((a, b), (b, a)):
                (sx, sy), (tx, ty) = self._edge_points(src, dst)
                length = math.hypot(tx - sx, ty - sy) or 1.0
                # Keep to the right of the aisle: a→b and b→a notes take different lanes.
                nx, ny = -(ty - sy) / length * shift, (tx - sx) / length * shift
                self._lanes[(src, dst)] = (sx + nx, sy + ny, tx - sx, ty - sy)
        w, h = self._desk_size()
        # The middle band of each desk, where its name is written: what bubbles and pills keep clear of.
        self.name_bands = [pygame.Rect(round(x - w / 2), round(y - h / 4), round(w), round(h / 2))
                           for x, y in self._centers.values()]
        self._make_sprites()
        self._static_key = None

    @property
    def desk_names(self) -> dict[str, Point]:
        """The desks laid out (name -> centre)."""
        return self._centers

    def seat_point(self, row: float, col: float) -> Point:
        """The pixel centre of a (possibly fractional) seat."""
        return (self._origin[0] + col * self.cell[0], self._origin[1] + row * self.cell[1])

    def desk_center(self, name: str) -> tuple[int, int]:
        x, y = self._centers[name]
        return round(x), round(y)

    def seat_rect(self, name: str) -> pygame.Rect:
        """The desk's rectangle on the surface (after :meth:`layout` or :meth:`draw`)."""
        w, h = self._desk_size()
        x, y = self._centers[name]
        return pygame.Rect(round(x - w / 2), round(y - h / 2), round(w), round(h))

    def note_center(self, note: Note) -> tuple[int, int]:
        """Where the note's envelope is drawn at its current progress."""
        x, y = self._note_point(note)
        return round(x), round(y)

    def _note_point(self, note: Note) -> Point:
        hop = note.hop
        if hop is not None:
            lane = self._lanes.get(hop)
            if lane is not None:
                sx, sy, dx, dy = lane
                p = note.progress
                return sx + dx * p, sy + dy * p
        x, y = self._centers.get(note.at) or self._centers.get(note.sender) or (-100.0, -100.0)
        return x, y - self._desk_size()[1] / 2

    def _desk_size(self) -> tuple[float, float]:
        cw, ch = self.cell
        return cw * 0.48, min(ch * 0.36, cw * 0.34)

    def _edge_points(self, a: str, b: str) -> tuple[Point, Point]:
        """Where the aisle from desk ``a`` to desk ``b`` leaves one desk and reaches the other."""
        (ax, ay), (bx, by) = self._centers[a], self._centers[b]
        dx, dy = bx - ax, by - ay
        w, h = self._desk_size()
        # The fraction of the way at which the straight line crosses the edge of a desk's rectangle.
        f = min(w / 2 / abs(dx) if dx else math.inf, h / 2 / abs(dy) if dy else math.inf)
        f = min(f, 0.45)
        return (ax + dx * f, ay + dy * f), (bx - dx * f, by - dy * f)

    # --- drawing ------------------------------------------------------------------------------------
    def draw(self, surface: pygame.Surface, rect: pygame.Rect, scale: float) -> None:
        """Draw the room as the model stands now into ``rect`` of ``surface``."""
        self.layout(rect, scale)
        key = (self.model.version, self.rect.w, self.rect.h, scale)
        if self._static is None or key != self._static_key:
            self._static = self._render_static()
            self._static_key = key
        surface.blit(self._static, self.rect.topleft)
        clip = surface.get_clip()
        surface.set_clip(self.rect)
        self._draw_teacher_reach(surface)
        self._draw_notes(surface)
        self._draw_teacher(surface)
        surface.set_clip(clip)

    def _draw_notes(self, surface: pygame.Surface) -> None:
        sprites = self._sprites
        hx, hy = self._sprite_half
        lanes, centers = self._lanes, self._centers
        above = self._desk_size()[1] / 2 + hy
        blits = self._blits
        blits.clear()
        append = blits.append
        get = lanes.get
        for note in self.model.notes.values():
            lane = get(note.hop)  # None for a note held at a desk (hop None is no lane)
            if lane is not None:
                p = note.progress
                sx, sy, dx, dy = lane
                append((sprites[note.state], (sx + dx * p - hx, sy + dy * p - hy)))
            else:  # held at a desk, or failed there: on the desk's top edge, clear of its name
                at = centers.get(note.at)
                if at is not None:
                    append((sprites[note.state], (at[0] - hx, at[1] - above)))
        surface.fblits(blits)

    # --- the static layer ---------------------------------------------------------------------------
    def _render_static(self) -> pygame.Surface:
        layer = pygame.Surface(self.rect.size)
        art.floor(layer, self.cell)
        art.board(layer, self.cell, str(self.model.header.get("title") or ""), self.scale)
        ox, oy = self.rect.topleft
        m = self.model
        unit = min(self.cell)
        width = max(2, round(unit * 0.05))
        for (a, b), link in m.links.items():
            (ax, ay), (bx, by) = self._centers[a], self._centers[b]
            start, end = (ax - ox, ay - oy), (bx - ox, by - oy)
            if link.up:
                pygame.draw.line(layer, AISLE_UP[link.mode], start, end, width)
            else:
                _dashed(layer, AISLE_DOWN, start, end, width, max(4.0, unit * 0.08))
        badge = max(6.0, min(unit * 0.09, 13 * self.scale))
        for (a, b), link in m.links.items():
            (ax, ay), (bx, by) = self._centers[a], self._centers[b]
            lock(layer, ((ax + bx) / 2 - ox, (ay + by) / 2 - oy), badge, link.mode,
                  AISLE_UP[link.mode] if link.up else AISLE_DOWN)
        name_font = scaled("bold", min(15.0, unit * 0.14 / max(self.scale, 0.01)), self.scale)
        tag_font = scaled("sans", min(12.0, unit * 0.11 / max(self.scale, 0.01)), self.scale)
        for name, desk in m.desks.items():  # the students first: their desks hide all but head and shoulders
            art.student(layer, self.seat_rect(name).move(-ox, -oy), name, desk.state not in ("absent",))
        for name, desk in m.desks.items():
            r = self.seat_rect(name).move(-ox, -oy)
            radius = max(2, r.h // 6)
            pygame.draw.rect(layer, DESK_FILL[desk.state], r, border_radius=radius)
            pygame.draw.rect(layer, DESK_EDGES[desk.state], r, max(1, width // 2 + (desk.state != "present")),
                             border_radius=radius)
            if desk.state == "ejected":  # struck through, not only re-coloured
                pygame.draw.line(layer, theme.VERMILLION, r.topleft, r.bottomright, max(1, width // 2))
            label = name_font.render(name, True, theme.TEXT)
            lift = r.h * 0.12 if desk.state != "present" else 0  # room for the state's tag below
            layer.blit(label, label.get_rect(center=(r.centerx, r.centery - lift)))
            tag = DESK_TAGS.get(desk.state)
            if tag:
                colour = DESK_EDGES[desk.state] if desk.state != "absent" else theme.TEXT
                text = tag_font.render(tag, True, colour)
                where = text.get_rect(midtop=(r.centerx, r.centery + r.h * 0.08))
                pill = where.inflate(where.h // 2, 2)
                pygame.draw.rect(layer, theme.PANEL, pill, border_radius=where.h // 3)
                layer.blit(text, where)
        return layer

    # --- the envelopes ------------------------------------------------------------------------------
    def _make_sprites(self) -> None:
        unit = min(self.cell)
        w = max(9, min(round(26 * self.scale), round(unit * 0.2)))
        h = max(7, round(w * 0.68))
        self._sprites = {state: _for_display(envelope(theme.NOTE_SHAPES[state], theme.NOTE_COLOURS[state], w, h))
                         for state in theme.NOTE_COLOURS}
        self._sprite_half = (w // 2, h // 2)

    # --- the teacher --------------------------------------------------------------------------------
    def _draw_teacher_reach(self, surface: pygame.Surface) -> None:
        t = self.model.teacher
        if not t.present:
            return
        width = max(2, round(min(self.cell) * 0.05))
        for a, b in t.watching:  # the aisles she watches, between the desks' edges
            if a in self._centers and b in self._centers:
                start, end = self._edge_points(a, b)
                _dashed(surface, TEACHER, start, end, max(1, width // 2), max(3.0, width * 1.5))
        x, y = self.seat_point(t.y, t.x)
        radius = round(REACH * min(self.cell))
        pygame.draw.circle(surface, theme.TEXT_DIM, (round(x), round(y)), radius, 1)

    def _draw_teacher(self, surface: pygame.Surface) -> None:
        t = self.model.teacher
        self.teacher_boxes = []
        self._bubble_at = None
        if not t.present:
            return
        x, y = self.seat_point(t.y, t.x)
        size = max(8.0, min(self.cell) * 0.16)
        # Standing at a desk, she steps into the aisle in front of it or behind it: never over a name.
        step = self._desk_size()[1] / 2 + size * 1.2
        for dy in (0.0, step, -step, step * 1.6, -step * 1.6):
            figure = pygame.Rect(round(x - size * 0.8), round(y + dy - size), round(size * 1.6), round(size * 2.2))
            if figure.collidelist(self.name_bands) < 0:
                y += dy
                break
        else:
            figure = pygame.Rect(round(x - size * 0.8), round(y - size), round(size * 1.6), round(size * 2.2))
        self.teacher_boxes.append(figure)
        art.teacher(surface, x, y, size)
        if t.bubble:
            bubble = self._bubble_surface(t.bubble, t.bubble_kind)
            box = self._bubble_place(bubble.get_size(), (x, y), size)
            tip = (x, y - size * 0.9) if box.bottom <= y else (x, y + size * 1.2) if box.top >= y else (x, y)
            base = (box.centerx, box.bottom - 1) if box.bottom <= y else (box.centerx, box.top + 1)
            if box.top < y < box.bottom:  # beside her: the tail leaves from the side facing her
                base = (box.right - 1, box.centery) if box.right <= x else (box.left + 1, box.centery)
            across = (size * 0.3, 0.0) if base[1] in (box.bottom - 1, box.top + 1) else (0.0, size * 0.3)
            pygame.draw.polygon(surface, BUBBLE, [(base[0] - across[0], base[1] - across[1]),
                                                  (base[0] + across[0], base[1] + across[1]), tip])
            surface.blit(bubble, box)
            self.teacher_boxes.append(box)
            self._bubble_at = (bubble, box)

    def redraw_bubble(self, surface: pygame.Surface) -> None:
        """Her bubble again, over whatever was drawn after the room (the moments' marks)."""
        if self._bubble_at is not None and self.model.teacher.bubble:
            surface.blit(*self._bubble_at)

    def _bubble_place(self, bubble: tuple[int, int], at: Point, size: float) -> pygame.Rect:
        """Where her bubble goes: above her, below, or to a side, wherever it covers no desk's name
        (the middle band of a desk); the place that covers fewest when every one covers some."""
        x, y = at
        w, h = bubble
        inside = self.rect.inflate(-8, -8)
        gap = size * 1.1
        spots = [(x - w / 2, y - gap - h), (x - w / 2, y + size * 1.4), (x + gap, y - h / 2),
                 (x - gap - w, y - h / 2), (x + gap, y - gap - h), (x - gap - w, y - gap - h),
                 (x + gap, y + size * 1.4), (x - gap - w, y + size * 1.4)]
        names = self.name_bands
        best, best_cover = None, math.inf
        for sx, sy in spots:
            box = pygame.Rect(round(sx), round(sy), w, h)
            box.clamp_ip(inside)
            cover = sum(box.clip(band).w * box.clip(band).h for band in names)
            if cover < best_cover:
                best, best_cover = box, cover
            if cover == 0:
                break
        assert best is not None
        return best

    def _bubble_surface(self, text: str, kind: str) -> pygame.Surface:
        key = (text, kind, self.scale)
        if key != self._bubble_key or self._bubble is None:
            self._bubble = speech_bubble(text, kind, self.scale)
            self._bubble_key = key
        return self._bubble


BUBBLE_TITLES = {
    "read": "The teacher reads:",
    "ciphertext": "All she sees (TLS):",
    "sealed": "A sealed envelope:",
    "caught": "The teacher:",
    "impostor": "The teacher, posing:",
}


def speech_bubble(text: str, kind: str, scale: float) -> pygame.Surface:
    """A rounded bubble: a title saying what she got, then the text (monospace for ciphertext)."""
    title_font = scaled("bold", 12, scale)
    body_font = scaled("mono" if kind in ("ciphertext", "sealed") else "sans", 14, scale)
    limit = 36 if kind == "ciphertext" else 44
    shown = text if len(text) <= limit else text[:limit - 1] + "…"
    title = title_font.render(BUBBLE_TITLES.get(kind, "The teacher:"), True, (90, 90, 100))
    body = body_font.render(f"“{shown}”" if kind == "read" else shown, True, BUBBLE_TEXT)
    pad = round(8 * scale)
    w = max(title.get_width(), body.get_width()) + 2 * pad
    h = title.get_height() + body.get_height() + 2 * pad
    surface = pygame.Surface((w, h), pygame.SRCALPHA)
    radius = round(10 * scale)
    pygame.draw.rect(surface, BUBBLE, surface.get_rect(), border_radius=radius)
    edge = theme.VERMILLION if kind in ("read", "caught", "impostor") else theme.BLUISH_GREEN
    pygame.draw.rect(surface, edge, surface.get_rect(), max(2, round(2 * scale)), border_radius=radius)
    surface.blit(title, (pad, pad))
    surface.blit(body, (pad, pad + title.get_height()))
    return surface


KEY: theme.Colour = (255, 0, 255)  # the transparent colour of the note sprites (no note is magenta)


def _for_display(sprite: pygame.Surface) -> pygame.Surface:
    """The sprite as an opaque surface with a colour key, run-length encoded: its pixels are either
    solid or clear, and blitting thousands a frame this way is several times cheaper than per-pixel
    alpha (2 ms against 13 for 5,000 envelopes at 1920x1080 here)."""
    keyed = pygame.Surface(sprite.get_size())
    if pygame.display.get_surface() is not None:
        keyed = keyed.convert()
    keyed.fill(KEY)
    keyed.blit(sprite, (0, 0))
    keyed.set_colorkey(KEY, pygame.RLEACCEL)
    return keyed


def envelope(shape: str, colour: theme.Colour, w: int, h: int) -> pygame.Surface:
    """One envelope sprite, ``w`` × ``h``: the state's colour, a dark outline, and a silhouette of its own.

    The plain envelope fills the sprite; a marked one is a little lower, so that its mark (a tick,
    a hand, a circling arrow) can stand out above it, and a torn one has a zigzag end: each state
    is told apart by its outline alone, at any size.
    """
    sprite = pygame.Surface((w, h), pygame.SRCALPHA)
    edge = theme.BLACK
    line = max(1, round(h / 10))
    mark = max(2, round(h / 6))
    top = 0 if shape in ("envelope", "envelope_torn") else round(h * 0.25)
    body = pygame.Rect(0, top, w, h - top)
    right = w - 1.0
    if shape == "envelope_torn":  # the right end torn off: a zigzag edge
        teeth = 3
        right = w * 0.8
        points: list[Point] = [(0.0, 0.0), (right, 0.0)]
        for i in range(1, teeth * 2 + 1):
            points.append((w * (0.8 if i % 2 == 0 else 1.0) - 1, (h - 1) * i / (teeth * 2)))
        points.append((0.0, h - 1.0))
        pygame.draw.polygon(sprite, colour, points)
        pygame.draw.polygon(sprite, edge, points, line)
    else:
        pygame.draw.rect(sprite, colour, body)
        pygame.draw.rect(sprite, edge, body, line)
    if shape != "envelope_cross":
        flap = [(0, body.top), (w * 0.5, body.top + body.h * 0.55), (right, body.top)]
        pygame.draw.lines(sprite, edge, False, flap, line)
    if shape == "envelope_check":  # a tick rising above the top right
        tick = [(w * 0.42, h * 0.62), (w * 0.6, h * 0.9), (w * 0.97, h * 0.03)]
        pygame.draw.lines(sprite, edge, False, tick, mark + 1)
    elif shape == "envelope_cross":  # crossed out corner to corner
        pygame.draw.line(sprite, edge, (w * 0.12, body.top + 1), (w * 0.88, h - 2), mark)
        pygame.draw.line(sprite, edge, (w * 0.12, h - 2), (w * 0.88, body.top + 1), mark)
    elif shape == "envelope_hand":  # a hand closing on it: fingers from above, a palm over the middle
        palm = pygame.Rect(round(w * 0.3), round(h * 0.42), round(w * 0.4), round(h * 0.34))
        pygame.draw.rect(sprite, edge, palm, border_radius=max(1, palm.h // 3))
        for i in range(4):
            fx = w * (0.33 + 0.113 * i)
            pygame.draw.line(sprite, edge, (fx, h * 0.02), (fx, h * 0.5), max(1, mark // 2 + 1))
    elif shape == "envelope_arrow":  # a badge with an arrow going round again, above the top right
        r = h * 0.36
        cx, cy = w - r - 1, r + 1
        pygame.draw.circle(sprite, colour, (cx, cy), r)
        pygame.draw.circle(sprite, edge, (cx, cy), r, line)
        inner = pygame.Rect(0, 0, round(r * 1.2), round(r * 1.2))
        inner.center = (round(cx), round(cy))
        pygame.draw.arc(sprite, edge, inner, 0.6, 5.4, max(1, line))
        tx, ty = cx + r * 0.6 * math.cos(0.6), cy - r * 0.6 * math.sin(0.6)
        head = [(tx - r * 0.45, ty), (tx + r * 0.45, ty), (tx, ty + r * 0.5)]
        pygame.draw.polygon(sprite, edge, head)
    return sprite


def lock(surface: pygame.Surface, centre: Point, size: float, mode: str, colour: theme.Colour) -> None:
    """A padlock: solid (mTLS), hollow (permissive), open shackle (plaintext), or a question mark."""
    x, y = centre
    w, h = size * 1.4, size * 1.1
    body = pygame.Rect(round(x - w / 2), round(y - h * 0.2), round(w), round(h))
    line = max(1, round(size / 5))
    backdrop = body.inflate(line * 4, line * 4)
    backdrop.h += round(size * 0.9)
    backdrop.bottom = body.bottom + line * 2
    pygame.draw.rect(surface, theme.PANEL, backdrop, border_radius=round(size * 0.3))
    if mode == "unknown":
        font = scaled("bold", 1, 1.0) if size < 7 else scaled("bold", size * 1.4, 1.0)
        mark = font.render("?", True, colour)
        surface.blit(mark, mark.get_rect(center=body.center))
        return
    shackle = pygame.Rect(round(x - w * 0.32), round(body.top - size * 0.8), round(w * 0.64),
                          round(size * 1.4))
    if mode == "plain":  # swung open: the shackle lifted and to one side
        shackle.move_ip(round(w * 0.35), -round(size * 0.35))
    pygame.draw.arc(surface, colour, shackle, 0, math.pi, line)
    left_foot = body.top if mode != "plain" else shackle.centery + size * 0.2
    pygame.draw.line(surface, colour, (shackle.left + line / 2, shackle.centery),
                     (shackle.left + line / 2, left_foot), line)
    pygame.draw.line(surface, colour, (shackle.right - line / 2 - 1, shackle.centery),
                     (shackle.right - line / 2 - 1, body.top), line)
    if mode == "mtls":
        pygame.draw.rect(surface, colour, body, border_radius=max(1, line))
    else:
        pygame.draw.rect(surface, colour, body, line, border_radius=max(1, line))


def _dashed(surface: pygame.Surface, colour: theme.Colour, start: Point, end: Point, width: int,
            dash: float) -> None:
    length = math.dist(start, end)
    if length == 0:
        return
    dx, dy = (end[0] - start[0]) / length, (end[1] - start[1]) / length
    pos = 0.0
    while pos < length:
        stop = min(pos + dash, length)
        pygame.draw.line(surface, colour, (start[0] + dx * pos, start[1] + dy * pos),
                         (start[0] + dx * stop, start[1] + dy * stop), width)
        pos += dash * 2
