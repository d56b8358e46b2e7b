"""``classroom stat``, ``top`` and ``tap``: the `linkerd viz` views, from any stream of events.

Theory of operation
-------------------
A :class:`MeshView` is fed events one at a time (a recording's, or a live
subscriber's as they arrive) and keeps what the three views need:

* a :class:`Book` of what the stream told about the room: each student's
  SPIFFE identity, which links are up and whether they are TLS, and each
  note's sender, recipient and send time;
* per student, the notes that student sent and how they ended (``stat``,
  modelled on ``linkerd viz stat``: NAME MESHED SUCCESS RPS LATENCY_P50
  LATENCY_P95 LATENCY_P99 TCP_CONN);
* per route, sender to recipient (``top``, modelled on ``linkerd viz top``:
  Source Destination Method Path Count Best Worst Last Success Rate).

``tap`` (:func:`tap_line`) turns each event that concerns a note into one
line, as ``linkerd viz tap`` does for requests: what happened, the note id,
which side of the proxy (``proxy=out`` where a hand passes a note on,
``proxy=in`` where one arrives), the hand, the identities of the note's two
ends, ``tls=true|false`` for the link(s) it crossed, and a latency where the
event has one.  A tap that joins a round after its links came up learns them
from the ``snapshot`` in the office's ``subscribed`` event (the latest card of
each hand, the links that are up, each proxy's acknowledged config).

Latencies are those of delivered notes, as in the run report.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from classroom.mesh.control import pki
from classroom.report import percentile

# Events a hand emits when a note arrives at it; the others are emitted where a note leaves.
INBOUND = frozenset({"forwarded", "refused", "dropped", "absent_refused", "duplicate_suppressed", "delivered",
                     "seal_broken", "peeked", "replied"})
# What tap calls each kind, where the event's own name would say less.
LABELS = {"span": "hop", "result": "end"}
# Fields tap shows after the identities, in this order, when an event has them.
EXTRAS = ("peer", "attempt", "outcome", "state", "flag", "cause", "policy", "what", "fault", "failure",
          "readable", "host", "attempts", "reason")


@dataclass
class NoteInfo:
    sender: str
    to: str
    sent: float | None = None


class Book:
    """What a watcher of the event stream knows about the room."""

    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = namespace
        self.identities: dict[str, str] = {}
        self.form = ""  # an ID card without its name (spiffe://.../sa/), once one is seen
        self.link_tls: dict[tuple[str, str], bool] = {}  # (a, b) sorted: TLS or not
        self.up: dict[str, set[tuple[str, str]]] = {}  # hand -> (direction, peer) of its open links
        self.meshed: set[str] = set()  # students seen with a sidecar
        self.notes: dict[str, NoteInfo] = {}

    def learn(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if kind == "subscribed":  # joining a running round: the office's picture of it so far
            for earlier in event.get("snapshot") or ():
                if isinstance(earlier, dict) and earlier.get("kind") != "subscribed":
                    self.learn(earlier)
            return
        hand = event.get("hand")
        if isinstance(hand, str) and str(event.get("src", "")).startswith("proxy-"):
            self.meshed.add(hand)
        if kind in ("cert_issued", "cert_installed", "cert_rotated") and hand and event.get("identity"):
            self.meshed.add(hand)
            self._identity(hand, event["identity"])
        elif kind in ("link_up", "link_accepted") and hand:
            peer = event.get("peer")
            if event.get("identity"):
                self._identity(pki.student_of(event["identity"]), event["identity"])
            if peer:
                self.link_tls[_pair(hand, peer)] = bool(event.get("tls"))
                self.up.setdefault(hand, set()).add(("out" if kind == "link_up" else "in", peer))
        elif kind == "link_down" and hand:
            self.up.setdefault(hand, set()).discard(("out", event.get("peer")))
        elif kind == "config_acked":
            for link in event.get("links") or ():
                if link.get("up") and link.get("from") and link.get("to"):
                    self.link_tls[_pair(link["from"], link["to"])] = bool(link.get("tls"))
        elif kind == "sent" and "note" in event:
            self.notes[event["note"]] = NoteInfo(str(event.get("from")), str(event.get("to")), event.get("t"))

    def guess(self, note: str) -> NoteInfo | None:
        """Sender and recipient from a note id (``alice>fay#3``), for a note whose ``sent`` was not seen."""
        ends, sep, _ = note.rpartition("#")
        sender, arrow, to = ends.partition(">")
        return NoteInfo(sender, to) if sep and arrow and sender and to else None

    def _identity(self, name: str, identity: str) -> None:
        self.identities[name] = identity
        if self.namespace is None and "/ns/" in identity:
            self.namespace = identity.split("/ns/", 1)[1].split("/", 1)[0]
        if identity.endswith("/" + name):  # the class's form of an ID card, whichever mesh's it is
            self.form = identity[: -len(name)]

    def identity(self, name: str | None) -> str:
        if not name:
            return "-"
        known = self.identities.get(name)
        if known:
            return known
        if self.form:
            return self.form + name
        return pki.spiffe_id(self.namespace, name) if self.namespace else name

    def tls(self, hands: list[str]) -> str:
        """Whether every link along ``hands`` is TLS; a single hand: every link of that hand."""
        if len(hands) >= 2:
            known = [self.link_tls.get(_pair(a, b)) for a, b in zip(hands, hands[1:], strict=False)]
        else:
            known = [tls for pair, tls in self.link_tls.items() if hands and hands[0] in pair]
        if not known or any(k is None for k in known):
            return "unknown"
        return "true" if all(known) else "false"

    def connections(self, hand: str) -> int:
        return len(self.up.get(hand, ()))


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


# --- tap ---------------------------------------------------------------------------------

def micros(seconds: float) -> str:
    return f"{seconds * 1e6:.0f}µs"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "-"
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (" " in text or not text) else text


def tap_line(event: dict[str, Any], book: Book) -> str | None:
    """One line for an event that concerns a note (None for the others); ``book`` must have learnt it."""
    kind = event.get("kind")
    if kind == "missed":
        return f"missed count={event.get('count')} (events the office dropped while this tap fell behind)"
    note = event.get("note")
    if note is None or not isinstance(kind, str):
        return None
    info = book.notes.get(note) or book.guess(note)
    sender = str(event.get("from") or (info.sender if info else "")) or None
    to = str(event.get("to") or (info.to if info else "")) or None
    hand = event.get("hand") or (sender if kind in ("sent", "result") else None)
    path = event.get("path") if isinstance(event.get("path"), list) else None
    latency: float | None = None
    if kind == "span":
        hops = [hand, event.get("peer")]
        latency = float(event["end"]) - float(event["start"])
    elif kind == "result":
        hops = path if path else [hand]
        latency = float(event["latency"]) if event.get("latency") is not None else None
    elif kind == "delivered":
        hops = path[-2:] if path and len(path) >= 2 else [hand]
        if info is not None and info.sent is not None:
            latency = float(event["t"]) - info.sent
    else:
        hops = [hand]
    parts = [LABELS.get(kind, kind), f"id={note}", f"proxy={'in' if kind in INBOUND else 'out'}",
             f"hand={hand or '-'}", f"src={book.identity(sender)}", f"dst={book.identity(to)}",
             f"tls={book.tls([h for h in hops if h])}"]
    for key in EXTRAS:
        if event.get(key) is not None and not (key == "peer" and kind != "span"):
            name = ":status" if key == "state" else key
            parts.append(f"{name}={_value(event[key])}")
    if kind == "span":
        parts.append(f"peer_id={book.identity(event.get('peer'))}")
    if path:
        parts.append("path=" + ",".join(path))
    if latency is not None:
        parts.append(f"latency={micros(latency)}")
    return " ".join(parts)


# --- stat and top ---------------------------------------------------------------------

@dataclass
class Outcomes:
    """The notes of one student (stat) or one route (top)."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, delivered notes
    last: float | None = None  # latency of the last delivered note
    route: list[str] | None = None  # path of the last delivered note

    def settle(self, event: dict[str, Any]) -> None:
        if event.get("state") == "delivered":
            self.delivered += 1
            latency = float(event.get("latency") or 0.0)
            self.latencies.append(latency)
            self.last = latency
            if event.get("path"):
                self.route = list(event["path"])
        else:
            self.failed += 1

    @property
    def settled(self) -> int:
        return self.delivered + self.failed

    def success(self) -> str:
        return f"{100.0 * self.delivered / self.settled:.2f}%" if self.settled else "-"


def duration(seconds: float | None) -> str:
    """A latency as linkerd prints one: whole milliseconds, tenths below 10 ms."""
    if seconds is None:
        return "-"
    ms = seconds * 1000.0
    return f"{ms:.1f}ms" if ms < 10 else f"{ms:.0f}ms"


def table(headers: list[str], rows: list[list[str]], left: int = 1) -> str:
    """Columns as linkerd's tabwriter lays them out: the first ``left`` left-aligned, three spaces apart."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    lines = []
    for row in [headers, *rows]:
        cells = [str(c).ljust(w) if i < left else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


class MeshView:
    """Everything stat, top and tap show, built from events fed in order."""

    def __init__(self, students: Iterable[str] = (), namespace: str | None = None,
                 unmeshed: Iterable[str] = ()) -> None:
        self.book = Book(namespace)
        self.students = list(students)
        self.unmeshed = set(unmeshed)  # what the level says, whatever the stream suggests
        self.by_student: dict[str, Outcomes] = {}
        self.by_route: dict[tuple[str, str], Outcomes] = {}
        self.first: float | None = None  # time of the first note event
        self.latest: float | None = None
        self.missed = 0
        self.events = 0

    @classmethod
    def of(cls, events: Iterable[dict[str, Any]], students: Iterable[str] = (),
           namespace: str | None = None, unmeshed: Iterable[str] = ()) -> MeshView:
        view = cls(students, namespace, unmeshed)
        for event in events:
            view.observe(event)
        return view

    def observe(self, event: dict[str, Any]) -> None:
        self.events += 1
        self.book.learn(event)
        kind = event.get("kind")
        if kind == "missed":
            self.missed += int(event.get("count") or 0)
            return
        if "note" not in event:
            return
        t = event.get("t")
        if isinstance(t, int | float):
            self.first = t if self.first is None else min(self.first, t)
            self.latest = t if self.latest is None else max(self.latest, t)
        if kind == "sent":
            sender, to = str(event.get("from")), str(event.get("to"))
            self.by_student.setdefault(sender, Outcomes()).sent += 1
            self.by_route.setdefault((sender, to), Outcomes()).sent += 1
        elif kind == "result":
            sender, to = str(event.get("from")), str(event.get("to"))
            self.by_student.setdefault(sender, Outcomes()).settle(event)
            self.by_route.setdefault((sender, to), Outcomes()).settle(event)

    @property
    def window(self) -> float:
        """Seconds of note traffic seen, over which RPS is counted."""
        if self.first is None or self.latest is None:
            return 0.0
        return max(self.latest - self.first, 1e-3)

    def stat_rows(self) -> list[list[str]]:
        # The level's students when known (the teacher has a card too, but sends no notes).
        names = list(self.students)
        for name in sorted({*self.by_student, *([] if names else self.book.meshed)}):
            if name not in names:
                names.append(name)
        rows = []
        window = self.window
        for name in names:
            out = self.by_student.get(name)
            meshed = f"{1 if name in self.book.meshed and name not in self.unmeshed else 0}/1"
            if out is None or not out.settled:
                rows.append([name, meshed, "-", "-", "-", "-", "-", str(self.book.connections(name))])
                continue
            lat = out.latencies
            rows.append([
                name, meshed, out.success(), f"{out.settled / window:.1f}rps" if window else "-",
                duration(percentile(lat, 50) if lat else None),
                duration(percentile(lat, 95) if lat else None),
                duration(percentile(lat, 99) if lat else None),
                str(self.book.connections(name)),
            ])
        return rows

    def stat(self) -> str:
        return table(["NAME", "MESHED", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99",
                      "TCP_CONN"], self.stat_rows())

    def top_rows(self) -> list[list[str]]:
        routes = sorted(self.by_route.items(), key=lambda item: (-item[1].settled, item[0]))
        rows = []
        for (sender, to), out in routes:
            lat = out.latencies
            rows.append([
                sender, to, "NOTE", "/" + "/".join(out.route) if out.route else "-", str(out.settled),
                duration(min(lat) if lat else None), duration(max(lat) if lat else None), duration(out.last),
                out.success(),
            ])
        return rows

    def top(self) -> str:
        return table(["Source", "Destination", "Method", "Path", "Count", "Best", "Worst", "Last",
                      "Success Rate"], self.top_rows(), left=4)

    def footer(self) -> str | None:
        if self.missed:
            return f"({self.missed} events were missed: this view fell behind the office's event stream)"
        return None
