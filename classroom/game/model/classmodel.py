"""The state of the class, built from the event stream; no pygame here.

Theory of operation
-------------------
A :class:`ClassModel` is made from a recording's header (or a level, which
gives the same header plus the teacher's patrol and the configured mTLS
mode), then fed every event of the round with :meth:`ClassModel.apply`, live
or from a recording, and asked to :meth:`ClassModel.tick` to a time before
each frame.  Times are room time, the round's shared clock that the events'
``t`` carries (a live round's :meth:`~classroom.game.model.session.Session.now`;
a recording older than format 2 is scaled by
:func:`classroom.telemetry.recorder.time_scale`).  It keeps plain data
(:mod:`classroom.game.model.classstate`) that a view draws and a test reads:

* **desks**: each student's seat and state: present, absent (from the
  level, ``student_left``/``student_back``, ``roll_changed``), refusing (a
  ``refused`` event at that hand, or the level says so), ejected (a neighbour
  ejected the hand, until the ejection runs out) or unmeshed (no sidecar);
* **links**: each aisle's mode, from what the proxies reported
  (``link_up``/``link_accepted``: TLS and mutual or not) and the configured
  PeerAuthentication: ``mtls`` (encrypted, STRICT), ``permissive`` (encrypted,
  but plaintext would be accepted too), ``plain`` or ``unknown``; and up/down;
* **notes**: the stream says where a note *arrived* (``forwarded``,
  ``refused``, ``dropped``, ``delivered``), not where it is going, so each hop
  is predicted from the routes the office computes
  (:func:`classroom.level.seating.ranked_next_hops`, avoiding hands it already
  crossed or that turned it away) and corrected when the next arrival names
  another hand.  A hop takes the level's passing time (room time, as the events' clock);
  ``progress`` runs 0..1 over it.  A note's visible state is one of
  :data:`NOTE_STATES`; a note whose outcome is known lingers a moment
  (:data:`LINGER` passing times) and is retired by :meth:`ClassModel.tick`.
  The teacher's ``teacher_caught`` names a link, not a note: every note on
  that link at that moment is shown confiscated;
* **the teacher**: where she stands (from her patrol when the level is known,
  walked with the same :func:`classroom.level.seating.patrol_position` she uses; else
  eased towards her last ``teacher_moved`` position), the links she watches,
  and a speech bubble: a note's text she read on a plaintext link, the
  first bytes of the TLS record she heard under mTLS (``teacher_saw_ciphertext``),
  or a sealed envelope;
* **moments** (:mod:`classroom.game.model.moments`): every moment the lesson
  names, placed at its desk or aisle, with the ticker's lines and the count
  of what was shown;
* **stats** and **objectives**: counted as events arrive; the objectives are
  judged by :func:`classroom.report.build_report` over the notes settled so
  far, at most every :data:`JUDGE_SECONDS` of the events' time and, in the
  window, in a thread of its own (:mod:`classroom.game.model.judging`), so
  that a busy round does not pay for a report in any frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from classroom.game.model.classstate import (
    DESK_STATES,
    LINK_MODES,
    NOTE_STATES,
    Desk,
    Link,
    Note,
    ObjectiveRow,
    Stats,
    TeacherState,
)
from classroom.game.model.judging import JUDGE_SECONDS, Judge
from classroom.game.model.moments import Moment, Moments
from classroom.level import Level
from classroom.level.seating import patrol_position, ranked_next_hops, seating_graph
from classroom.mesh.control.compile import mesh_policy
from classroom.telemetry import recorder

LINGER = 3.0  # passing times a note with a known outcome stays visible
BUBBLE_SECONDS = 2.5  # how long (room time) the teacher's speech bubble stays
UNJUDGED = frozenset({"span"})  # kinds the report does not read: not kept
# A note's arrivals at hands that pass it on are read only for the busiest hand's load; they are most of
# a round's events, so a level that does not judge that load keeps none of them (its report is cheaper).
ARRIVALS_ONLY = frozenset({"forwarded"})
IN_FLIGHT = "sent_in_flight"  # stands in the events for a note's sending until its result comes
# Which arrival events turn a note away, and how it looks then.
TURNED_AWAY = {"refused": "refused", "absent_refused": "refused", "policy_denied": "refused",
               "seal_broken": "refused", "dropped": "dropped"}
BUBBLE_KINDS = {"bubble_plaintext": "read", "bubble_ciphertext": "ciphertext", "bubble_sealed": "sealed"}
__all__ = ["DESK_STATES", "JUDGE_SECONDS", "LINGER", "LINK_MODES", "NOTE_STATES", "ClassModel", "Desk", "Link",
           "Moment", "Note", "ObjectiveRow", "Stats", "TeacherState"]


class ClassModel:
    """The class as the event stream tells it; see the module docstring."""

    def __init__(self, header: dict[str, Any], level: Level | None = None,
                 resources: Iterable[dict[str, Any]] | None = None) -> None:
        self.header = header
        self.level = level if level is not None else recorder.Recording("", header, [], {}).level()
        self.seed = int(header.get("seed", 0) or 0)
        self.speed = float(header.get("speed", 1.0) or 1.0)
        room = header.get("room") or {}
        self.rows = int(room.get("rows", 0) or 0)
        self.cols = int(room.get("cols", 0) or 0)
        self.time_scale = recorder.time_scale(header)  # events' seconds per room second
        self.hop_seconds = max(float(room.get("passing_time", 0.0) or 0.0) * self.time_scale, 0.02)
        self.desks: dict[str, Desk] = {}
        for s in header.get("students") or ():
            name = str(s["name"])
            self.desks[name] = Desk(name, (int(s["seat"][0]), int(s["seat"][1])),
                                    meshed=bool(s.get("meshed", True)), absent=bool(s.get("absent")))
        self.links: dict[tuple[str, str], Link] = {}
        for a, b in room.get("links") or ():
            a, b = sorted((str(a), str(b)))
            self.links[(a, b)] = Link(a, b)
        self._routes = ranked_next_hops(seating_graph(self.desks, self.links))
        self.notes: dict[str, Note] = {}
        self.teacher = TeacherState()
        self._patrol: list[tuple[float, float]] = []
        self._walk = 1.0
        self._walk_start: float | None = None
        self._teacher_target: tuple[float, float] | None = None
        self._watched: set[tuple[str, str]] = set()
        self.moments = Moments(set(self.desks), self.time_scale)
        self.moments.impostors = bool(self.level.teacher is not None and self.level.teacher.impersonates)
        self.stats = Stats()
        self.now = float(header.get("t", 0.0) or 0.0)
        self.events: list[dict[str, Any]] = []
        self.version = 0  # bumped whenever desks or links change (the view's static layer)
        self.mtls_mode = "UNSET"
        self.judge = Judge(self.level, self.seed, self.speed)  # the window sets judge.background
        self._in_flight: dict[str, tuple[int, dict[str, Any]]] = {}  # note -> (index in events, its sent)
        load = any(objective.metric == "max_hop_load" for objective in self.level.objectives)
        self._unjudged = UNJUDGED if load else UNJUDGED | ARRIVALS_ONLY
        self.over = False  # the round has ended (its round_end came): objectives are met or missed
        teacher = header.get("teacher")
        if isinstance(teacher, dict) and teacher.get("patrol"):
            self._patrol = [(float(p[0]), float(p[1])) for p in teacher["patrol"]]
            self._walk = float(teacher.get("speed", 1.0) or 1.0)
            self.teacher.present = True
            self.teacher.y, self.teacher.x = self._patrol[0]
        if resources is not None:
            self.set_resources(resources)
        self._refresh_desks()

    # --- construction ------------------------------------------------------------------------------
    @classmethod
    def from_header(cls, header: dict[str, Any]) -> ClassModel:
        """A model from a recording's first event (``recorder.header(level, seed, speed)``).

        A header that carries ``teacher`` (``{"patrol": [[r, c], ...], "speed": s}``) gives her
        walk; without it she is placed where her ``teacher_moved`` events say.
        """
        return cls(header)

    @classmethod
    def from_level(cls, level: Level, seed: int = 0, speed: float = 1.0,
                   resources: Iterable[dict[str, Any]] | None = None) -> ClassModel:
        """A model of a level about to be played; ``resources`` default to the level's own."""
        header = recorder.header(level, seed, speed)
        model = cls(header, level, level.resources if resources is None else resources)
        for student in level.students:
            if student.behaviour.refuses:
                model.desks[student.name].refusing = True
        model._refresh_desks()
        return model

    def set_resources(self, resources: Iterable[dict[str, Any]]) -> None:
        """The configuration in force (PeerAuthentication decides solid or hollow locks)."""
        try:
            self.mtls_mode = mesh_policy(tuple(resources), self.level.profile, self.level.name).mtls_mode
        except (KeyError, TypeError, ValueError, AttributeError):
            self.mtls_mode = "UNSET"
        for link in self.links.values():
            link.mode = self._link_mode(link)
        self.version += 1

    # --- events ------------------------------------------------------------------------------------
    def apply(self, event: dict[str, Any]) -> None:
        """Take one event into the model; unknown kinds are ignored and odd ones never raise."""
        if not isinstance(event, dict):
            return
        try:
            self._apply(event)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            pass  # a malformed event tells us nothing; the rest of the stream still does

    def apply_all(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            self.apply(event)

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        t = float(event.get("t", self.now) or self.now)
        self.now = max(self.now, t)
        if kind in (recorder.HEADER, recorder.END):
            if kind == recorder.END:
                self.over = True  # judged once more, on every note, at once
                for index, sent in self._in_flight.values():
                    self.events[index] = sent
                self._in_flight.clear()
            return
        handler = _HANDLERS.get(str(kind))
        if handler is not None:
            handler(self, event, t)
        moment = self.moments.observe(event, t)
        if moment is not None and moment.kind in BUBBLE_KINDS:
            self._say(moment.detail, BUBBLE_KINDS[moment.kind], t)
            self.teacher.bubble_moment = moment
        if kind in self._unjudged:
            return
        # Only once understood: the report reads the same fields.  A note still in flight is neither
        # a failure nor a success yet: its sending is kept as a stand-in the report skips, put back
        # in its place when its result comes (or the round ends), so judging needs no pass to sort
        # the settled from the rest.
        note = str(event.get("note"))
        if kind == "sent":
            self._in_flight[note] = (len(self.events), event)
            self.events.append({"kind": IN_FLIGHT, "note": note, "t": t})
            return
        if kind == "result":
            pending = self._in_flight.pop(note, None)
            if pending is not None:
                self.events[pending[0]] = pending[1]
        self.events.append(event)

    def _on_sent(self, event: dict[str, Any], t: float) -> None:
        note = Note(str(event["note"]), str(event["from"]), str(event["to"]), at=str(event["from"]))
        note.visited.append(note.sender)
        self.notes[note.id] = note
        self.stats.sent += 1
        self._next_hop(note, t)

    def _on_arrived(self, event: dict[str, Any], t: float) -> None:
        note = self.notes.get(str(event.get("note")))
        if note is None or note.final:
            return
        hand = str(event["hand"])
        if note.hop is not None and note.hop[1] != hand and hand in self.desks:
            note.hop = (note.at, hand)  # the prediction was wrong: it went to `hand`
        note.at = hand
        note.visited.append(hand)
        note.state = "in_flight"
        self._next_hop(note, t)

    def _on_turned_away(self, event: dict[str, Any], t: float) -> None:
        kind = str(event["kind"])
        hand = str(event.get("hand", ""))
        if kind == "dropped" and event.get("what") == "reply":
            return
        if kind == "refused" and event.get("what") != "own note" and hand in self.desks \
                and not self.desks[hand].refusing:
            self.desks[hand].refusing = True
            self._refresh_desks()
        note = self.notes.get(str(event.get("note")))
        if note is None or note.final:
            return
        self._land(note, hand)
        note.avoid.add(hand)
        note.state = TURNED_AWAY[kind]
        note.ended = t

    def _on_retried(self, event: dict[str, Any], t: float) -> None:
        self.stats.retries += 1
        note = self.notes.get(str(event.get("note")))
        if note is None or note.final:
            return
        hand = str(event.get("hand", note.at))
        if note.hop is not None and note.state == "in_flight":
            note.avoid.add(note.hop[1])  # the try it gave up on (a timeout says no more)
        note.at = hand if hand in self.desks else note.at
        note.state = "retrying"
        note.ended = None
        self._next_hop(note, t)

    def _on_delivered(self, event: dict[str, Any], t: float) -> None:
        note = self.notes.get(str(event.get("note")))
        if note is None or note.final:
            return
        self._land(note, str(event.get("hand", note.recipient)))
        note.state = "delivered"
        note.ended = t

    def _on_held(self, event: dict[str, Any], t: float) -> None:
        note = self.notes.get(str(event.get("note")))
        if note is not None and not note.final:
            note.at = str(event.get("hand", note.at))
            note.hop, note.progress, note.state = None, 0.0, "in_flight"

    def _on_released(self, event: dict[str, Any], t: float) -> None:
        note = self.notes.get(str(event.get("note")))
        if note is not None and not note.final:
            self._next_hop(note, t)

    def _on_result(self, event: dict[str, Any], t: float) -> None:
        failed_at = self.desks.get(str(event.get("at") or ""))
        if event.get("state") != "delivered" and failed_at is not None:
            failed_at.failed_here += 1
        if event.get("state") == "delivered":
            self.stats.delivered += 1
            if event.get("latency") is not None:
                self.stats.latencies_ms.append(float(event["latency"]) * 1000.0)
        else:
            self.stats.failed += 1
        note = self.notes.get(str(event.get("note")))
        if note is None:
            return
        if event.get("state") == "delivered":
            if note.state != "delivered":
                self._land(note, note.recipient)
                note.state = "delivered"
        elif note.state not in ("dropped", "refused", "confiscated"):
            note.state = "failed"
            at = str(event.get("at") or "")
            if at in self.desks:  # where it failed, though its last arrival said an earlier hand
                note.hop = (note.at, at) if note.at != at and self._link(note.at, at) is not None else None
                note.at = at
                note.progress = 1.0
            elif note.hop is not None:
                self._land(note, note.at)
        note.final = True
        note.ended = note.ended if note.ended is not None and note.state != "failed" else t

    def _on_caught(self, event: dict[str, Any], t: float) -> None:
        pair = tuple(sorted(str(x) for x in event["link"]))
        for note in self.notes.values():
            if note.hop is not None and not note.final and note.state in ("in_flight", "retrying") \
                    and tuple(sorted(note.hop)) == pair:
                note.state = "confiscated"
                note.ended = t
                self._freeze(note, t)
        self._say("Confiscated!", "caught", t)

    def _on_link(self, event: dict[str, Any], t: float) -> None:
        link = self._link(event.get("hand"), event.get("peer"))
        if link is None:
            return
        kind = event["kind"]
        if kind == "link_down":
            link.up = False
        else:
            tls = bool(event.get("tls")) and (kind != "link_accepted" or bool(event.get("mutual")))
            link.tls = tls if link.tls is None or not link.up else (link.tls and tls)
            link.up = True
        link.mode = self._link_mode(link)
        self.version += 1

    def _on_roll(self, event: dict[str, Any], t: float) -> None:
        desk = self.desks.get(str(event.get("hand")))
        if desk is None:
            return
        kind = event["kind"]
        desk.absent = kind == "student_left" or (kind == "roll_changed" and not event.get("present", True))
        self._refresh_desks()

    def _on_proxy_lost(self, event: dict[str, Any], t: float) -> None:
        """A proxy died: every desk it served is down (a row's, under the per-row meshes: the blast radius)."""
        for name in event.get("hands") or ():
            desk = self.desks.get(str(name))
            if desk is not None:
                desk.absent = True
        self._refresh_desks()

    def _on_ejected(self, event: dict[str, Any], t: float) -> None:
        desk = self.desks.get(str(event.get("peer")))
        if desk is not None:
            seconds = float(event.get("seconds", 0.0) or 0.0) * self.time_scale
            desk.ejected_until = max(desk.ejected_until, t + seconds)
            self._refresh_desks()

    def _on_teacher_moved(self, event: dict[str, Any], t: float) -> None:
        at = event["at"]
        first = not self.teacher.present
        self.teacher.present = True
        self.teacher.watching = [(str(a), str(b)) for a, b in event.get("watching") or ()]
        self._watched = {(a, b) if a < b else (b, a) for a, b in self.teacher.watching}
        if self._patrol:
            if self._walk_start is None:
                self._walk_start = t  # her first report is made as she sets off
            return
        self._teacher_target = (float(at[1]), float(at[0]))
        if first:
            self.teacher.x, self.teacher.y = self._teacher_target

    def _on_teacher_heard(self, event: dict[str, Any], t: float) -> None:
        if event["kind"] == "teacher_impersonation":
            self._say(f"Hi, I'm {event.get('victim', '?')}!", "impostor", t)

    # --- helpers -----------------------------------------------------------------------------------
    def _link(self, a: Any, b: Any) -> Link | None:
        if not isinstance(a, str) or not isinstance(b, str):
            return None
        return self.links.get((a, b) if a < b else (b, a))

    def _link_mode(self, link: Link) -> str:
        if link.tls is None:  # not seen yet: what the configuration promises
            if self.mtls_mode == "UNSET":
                return "unknown"
            if self.mtls_mode == "DISABLE" or not (self.desks[link.a].meshed and self.desks[link.b].meshed):
                return "plain"
            return "mtls" if self.mtls_mode == "STRICT" else "permissive"
        if not link.tls:
            return "plain"
        return "permissive" if self.mtls_mode == "PERMISSIVE" else "mtls"

    def _refresh_desks(self) -> None:
        for desk in self.desks.values():
            if desk.absent:
                state = "absent"
            elif desk.ejected_until > self.now:
                state = "ejected"
            elif desk.refusing:
                state = "refusing"
            elif not desk.meshed:
                state = "unmeshed"
            else:
                state = "present"
            if state != desk.state:
                desk.state = state
                self.version += 1

    def _next_hop(self, note: Note, t: float) -> None:
        """Start the note's predicted next hop from the hand that holds it."""
        here = note.at
        if here == note.recipient:
            note.hop, note.progress = None, 1.0
            return
        options = self._routes.get(here, {}).get(note.recipient, [])
        fresh = [n for n in options if n not in note.visited and n not in note.avoid]
        usable = [n for n in fresh if self.desks[n].state not in ("absent", "ejected")] or fresh or options
        if not usable:
            note.hop, note.progress = None, 0.0
            return
        note.hop = (here, usable[0])
        note.hop_start = t
        note.progress = 0.0

    def _land(self, note: Note, hand: str) -> None:
        """The note has reached ``hand`` (or was turned away there): end of its hop."""
        if hand in self.desks:
            if note.hop is None or note.hop[1] != hand:
                note.hop = (note.at, hand) if note.at != hand else None
            note.at = hand
        note.progress = 1.0

    def _freeze(self, note: Note, t: float) -> None:
        note.progress = min(max((t - note.hop_start) / self.hop_seconds, 0.0), 1.0)

    def _say(self, text: str, kind: str, t: float) -> None:
        self.teacher.present = True
        self.teacher.bubble = text
        self.teacher.bubble_kind = kind
        self.teacher.bubble_until = t + BUBBLE_SECONDS * self.time_scale

    # --- time --------------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Advance the animations to ``now`` (events' clock) and retire notes that are done."""
        self.now = max(self.now, now)
        hop = self.hop_seconds
        linger = LINGER * hop
        done = []
        for note in self.notes.values():
            if note.ended is not None:
                if note.final and now - note.ended > linger:
                    done.append(note.id)
            elif note.hop is not None:
                p = (now - note.hop_start) / hop
                note.progress = 1.0 if p >= 1.0 else (p if p > 0.0 else 0.0)
        for note_id in done:
            del self.notes[note_id]
        if self.teacher.bubble is not None and now > self.teacher.bubble_until:
            self.teacher.bubble = None
        self._walk_teacher(now)
        self.moments.expire(now)
        if any(d.state == "ejected" and d.ejected_until <= now for d in self.desks.values()):
            self._refresh_desks()

    def _walk_teacher(self, now: float) -> None:
        if self._patrol and self._walk_start is not None:
            walked = max(now - self._walk_start, 0.0) / self.time_scale * self._walk
            row, col = patrol_position(self._patrol, walked)
            self.teacher.x, self.teacher.y = col, row
        elif self._teacher_target is not None:
            tx, ty = self._teacher_target
            dx, dy = tx - self.teacher.x, ty - self.teacher.y
            dist = math.hypot(dx, dy)
            step = 0.2  # ease towards where she last said she was
            if dist <= step:
                self.teacher.x, self.teacher.y = tx, ty
            else:
                self.teacher.x += dx / dist * step
                self.teacher.y += dy / dist * step

    # --- what the HUD shows ------------------------------------------------------------------------
    def objectives(self) -> list[ObjectiveRow]:
        """Each objective: (label, current value, target, met) judged on the notes settled so far
        (:mod:`classroom.game.model.judging`).

        ``met`` is None while no note has settled; during the round True means on track, False off
        track; once the round is over (:attr:`over`), met or missed.
        """
        settled = self.stats.delivered + self.stats.failed > 0
        return self.judge.rows_for(self.events, self.now, self.over, settled)

    def notes_in_flight(self) -> list[Note]:
        return list(self.notes.values())


_HANDLERS = {
    "sent": ClassModel._on_sent,
    "forwarded": ClassModel._on_arrived,
    "refused": ClassModel._on_turned_away,
    "absent_refused": ClassModel._on_turned_away,
    "policy_denied": ClassModel._on_turned_away,
    "seal_broken": ClassModel._on_turned_away,
    "dropped": ClassModel._on_turned_away,
    "retried": ClassModel._on_retried,
    "delivered": ClassModel._on_delivered,
    "held": ClassModel._on_held,
    "released": ClassModel._on_released,
    "result": ClassModel._on_result,
    "teacher_caught": ClassModel._on_caught,
    "link_up": ClassModel._on_link,
    "link_accepted": ClassModel._on_link,
    "link_down": ClassModel._on_link,
    "student_left": ClassModel._on_roll,
    "student_back": ClassModel._on_roll,
    "roll_changed": ClassModel._on_roll,
    "proxy_lost": ClassModel._on_proxy_lost,
    "ejected": ClassModel._on_ejected,
    "teacher_moved": ClassModel._on_teacher_moved,
    "teacher_impersonation": ClassModel._on_teacher_heard,
}
