"""The moments the lesson names, made from events: where each happens, what it says, and what was shown.

Theory of operation
-------------------
A *moment* is something a level teaches that the player should see where it
happens: the teacher's bubble over what she heard (a note's words on a
plaintext aisle, the first bytes of a TLS record under mTLS, a sealed
envelope), a nosy classmate's peek, an impostor refused or let in, a
confiscation, a policy denial, a retry, an ejection, a desk that cannot take
its notes (a broken canary), a drop, a refusal.  :meth:`Moments.observe`
reads every event of the round (the :class:`~classroom.game.model.classmodel.ClassModel`
hands each on) and makes at most one :class:`Moment` of it, placed at a desk
or on an aisle, with a short title drawn on the spot, a detail (the bytes,
the text, both identities, the policy's name) and a line for the ticker.

The same kind at the same place while its moment is still on screen does not
make another: the moment is refreshed and counts one more ``occurrences``
(a broken desk refusing forty notes a second is one mark with a count, not
forty), and so does the ticker's last line for it (``×N``).

**What the player saw.**  The view calls :meth:`Moments.mark_shown` for each
moment it draws; :attr:`Moments.shown` counts, per kind, the occurrences that
were on screen for at least one frame (a moment that came and went between
two frames is not counted), and :attr:`Moments.legend` the legend entries
drawn.  ``play --autoplay --screenshot DIR`` writes both as
``DIR/LEVEL-seen.json``.  No pygame here.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

MOMENT_SECONDS = 2.5  # room time a moment stays on screen after its last occurrence
TICKER_LINES = 40  # lines the ticker keeps (the view shows the last few)
# Every kind of moment, and the words of its title on the spot.
TITLES = {
    "bubble_plaintext": "reads the note",
    "bubble_ciphertext": "hears only ciphertext",
    "bubble_sealed": "sees a sealed envelope",
    "peek": "peeks",
    "impostor_refused": "impostor refused",
    "impostor_accepted": "impostor let in!",
    "forgery_believed": "believed a forgery",
    "confiscated": "confiscated",
    "denied": "denied",
    "retry": "retry",
    "ejected": "ejected",
    "broken": "cannot take notes",
    "dropped": "dropped",
    "refused": "refuses",
    "absent": "not at the desk",
    "seal_broken": "seal broken",
    "tls_refused": "refused the connection",
}
MOMENT_KINDS = tuple(TITLES)
BUBBLES = {"teacher_read": "bubble_plaintext", "teacher_saw_ciphertext": "bubble_ciphertext",
           "teacher_saw_sealed": "bubble_sealed"}


@dataclass
class Moment:
    kind: str  # one of MOMENT_KINDS
    t: float  # when it (last) happened, events' clock
    until: float  # on screen until then
    desk: str | None = None  # where it happens: a desk...
    link: tuple[str, str] | None = None  # ...or an aisle, from its first hand to its second
    title: str = ""  # drawn on the spot
    detail: str = ""  # the bytes, the words, the identities, the policy
    occurrences: int = 1
    shown_occurrences: int = 0  # occurrences that were on screen (mark_shown)
    ends: float | None = None  # an ejection: when it runs out (the view draws the time left)


@dataclass
class TickerLine:
    t: float  # seconds since the round's first event
    kind: str
    text: str
    count: int = 1


class Moments:
    """The moments on screen, the ticker, and what was shown; see the module docstring."""

    def __init__(self, desks: set[str], time_scale: float = 1.0) -> None:
        self.desks = desks
        self.time_scale = time_scale  # events' seconds per room second
        self.active: list[Moment] = []
        self.ticker: deque[TickerLine] = deque(maxlen=TICKER_LINES)
        self.shown: Counter[str] = Counter()
        self.made: Counter[str] = Counter()
        self.legend: set[str] = set()  # legend entries drawn
        self.origin: float | None = None
        self._posing: dict[str, str] = {}  # victim -> the card the teacher showed, while she poses
        self.impostors = False  # the level's teacher poses as students

    # --- from events ---------------------------------------------------------------------------
    def observe(self, event: dict[str, Any], t: float) -> Moment | None:
        """The moment ``event`` makes, if it makes one (also kept in :attr:`active`)."""
        if self.origin is None:
            self.origin = t
        kind = str(event.get("kind"))
        maker = _MAKERS.get(kind)
        return maker(self, event, t) if maker is not None else None

    def _bubble(self, event: dict[str, Any], t: float) -> Moment | None:
        kind = BUBBLES[str(event["kind"])]
        link = _pair(event.get("link"))
        if kind == "bubble_plaintext":
            detail, line = str(event.get("text", "")), f"the teacher reads {_note(event)}: “{event.get('text', '')}”"
        elif kind == "bubble_ciphertext":
            record = str(event.get("record", ""))
            detail = " ".join(record[i:i + 2] for i in range(0, min(len(record), 36), 2))
            size = event.get("bytes") or int(record[6:10] or "0", 16) + 5
            line = f"the teacher hears {size} bytes of TLS on {_aisle(link)}: {detail} …"
        else:
            detail, line = "sealed envelope", f"the teacher sees {_note(event)} sealed: she cannot open it"
        return self._add(kind, t, line, link=link, detail=detail)

    def _peek(self, event: dict[str, Any], t: float) -> Moment | None:
        hand = str(event["hand"])
        saw = str(event.get("saw", ""))
        if event.get("readable"):
            detail, line = f"“{saw}”", f"{hand} peeks at {_note(event)} and reads “{saw}”"
        else:
            shown = " ".join(saw[i:i + 2] for i in range(0, min(len(saw), 24), 2))
            detail, line = f"sealed: {shown} …", f"{hand} peeks at {_note(event)}: sealed, {shown} …"
        return self._add("peek", t, line, desk=hand, detail=detail)

    def _impersonation(self, event: dict[str, Any], t: float) -> Moment | None:
        victim = str(event.get("victim", "?"))
        card = str(event.get("card", ""))
        if event["kind"] == "teacher_impersonation":
            self._posing[victim] = card
            return None
        line = f"a hand took the teacher for {victim}: she showed {card}"
        return self._add("impostor_accepted", t, line, desk=victim if victim in self.desks else None,
                         detail=f"posing as {victim}")

    def _redirected(self, event: dict[str, Any], t: float) -> Moment | None:
        link = _pair(event.get("link"))
        if link is not None and event.get("to") == "teacher":
            self._posing.setdefault(link[1], "")  # the aisles send a's next dial to her, posing as b
        return None

    def _tls_rejected(self, event: dict[str, Any], t: float) -> Moment | None:
        hand, peer = str(event.get("hand", "")), event.get("peer")
        reason = str(event.get("reason", ""))
        # Her card: the aisles' redirect or her own report usually come first; the reason names her too.
        posing = isinstance(peer, str) and (peer in self._posing or "sa/teacher" in reason
                                            or (self.impostors and "trusted class CA" in reason))
        if event.get("direction") == "outbound" and isinstance(peer, str) and posing:
            card = self._posing.pop(peer, "") or f"a card from her own CA claiming sa/{peer}"
            shown = _identity(reason.split(",")[0].removeprefix("peer is ")) if "sa/" in reason else card
            detail = f"wanted {peer}, got {_short_card(shown)}"
            line = f"{hand} refused an impostor posing as {peer}: {reason}"
            return self._add("impostor_refused", t, line, link=(hand, peer), detail=detail)
        if hand not in self.desks:
            return None
        link = (hand, peer) if isinstance(peer, str) and peer in self.desks else None
        plain = "plaintext" in reason
        return self._add("tls_refused", t, f"{hand} refused a connection: {reason}", link=link,
                         desk=None if link else hand, detail="no ID card shown" if plain else reason,
                         title="refused plaintext" if plain else "refused a card")

    def _caught(self, event: dict[str, Any], t: float) -> Moment | None:
        link = _pair(event.get("link"))
        return self._add("confiscated", t, f"the teacher confiscates a note on {_aisle(link)}", link=link,
                         detail="the connection is cut")

    def _denied(self, event: dict[str, Any], t: float) -> Moment | None:
        hand, policy = str(event["hand"]), str(event.get("policy", "?"))
        src = _identity(str(event.get("src_identity", "")))
        line = f"{hand} denies {_note(event)} from {src}: policy {policy}"
        return self._add("denied", t, line, desk=hand, detail=policy)

    def _retried(self, event: dict[str, Any], t: float) -> Moment | None:
        hand = str(event.get("hand", ""))
        reason = str(event.get("reason", "") or event.get("failure", ""))
        line = f"{hand} retries {_note(event)} (try {int(event.get('attempt', 0) or 0) + 1}): {reason}"
        return self._add("retry", t, line, desk=hand, detail=reason)

    def _ejected(self, event: dict[str, Any], t: float) -> Moment | None:
        hand, peer = str(event.get("hand", "")), str(event.get("peer", ""))
        seconds = float(event.get("seconds", 0.0) or 0.0)
        line = f"{hand} ejects {peer} from its routes for {seconds:.1f} s" if seconds < 10 else \
            f"{hand} ejects {peer} from its routes for {seconds:.0f} s"
        moment = self._add("ejected", t, line, desk=peer, detail=f"by {hand}",
                           hold=seconds * self.time_scale)
        if moment is not None:
            moment.ends = max(moment.ends or 0.0, t + seconds * self.time_scale)
        return moment

    def _turned_away(self, event: dict[str, Any], t: float) -> Moment | None:
        kind, hand = str(event["kind"]), str(event.get("hand", ""))
        if kind == "dropped":
            what = "an answer" if event.get("what") == "reply" else _note(event)
            return self._add("dropped", t, f"{hand} drops {what}", desk=hand, detail="lost")
        if kind == "refused" and event.get("what") == "own note":
            return self._add("broken", t, f"{hand} cannot take {_note(event)}: broken", desk=hand,
                             detail="broken: every note fails here")
        if kind == "refused":
            return self._add("refused", t, f"{hand} refuses to pass {_note(event)}", desk=hand,
                             detail="will not pass notes")
        if kind == "absent_refused":
            return self._add("absent", t, f"{hand} is not at the desk for {_note(event)}", desk=hand)
        return self._add("seal_broken", t, f"{hand}: the seal of {_note(event)} is broken", desk=hand,
                         detail=str(event.get("reason", "")))

    def _forgery(self, event: dict[str, Any], t: float) -> Moment | None:
        victim, claimed = str(event.get("victim", "")), str(event.get("claimed", ""))
        return self._add("forgery_believed", t, f"{victim} believed the teacher's note signed {claimed}",
                         desk=victim, detail=f"signed “{claimed}”")

    def _lecture(self, event: dict[str, Any], t: float) -> Moment | None:
        """A lecturer's live action (from the window or a script): a ticker line, where the class sees it."""
        kind = str(event.get("kind"))
        who, link = event.get("student"), _pair(event.get("link"))
        target = f" {who}" if who else f" {_aisle(link)}" if link else ""
        if kind == "live_action":
            self._tick("lecture", t, f"lecturer: {event.get('action')}{target}")
        elif kind == "rules_set":
            self._tick("lecture", t, f"lecturer: pushed {', '.join(map(str, event.get('resources') or []))} live")
        elif kind == "rate_changed":
            self._tick("lecture", t, f"lecturer: room time at ×{float(event.get('rate') or 1.0):g}")
        else:  # live_action_failed, script_failed
            what = event.get("action") or f"script line {event.get('line')}"
            self._tick("lecture_failed", t, f"lecturer: {what}{target} failed: {event.get('reason')}")
        return None

    # --- keeping them ----------------------------------------------------------------------------
    def _add(self, kind: str, t: float, line: str, desk: str | None = None,
             link: tuple[str, str] | None = None, detail: str = "", hold: float = 0.0,
             title: str = "") -> Moment | None:
        if desk is not None and desk not in self.desks:
            desk = None
        if link is not None and not (link[0] in self.desks and link[1] in self.desks):
            link = None
        self.made[kind] += 1
        self._tick(kind, t, line)
        until = t + max(MOMENT_SECONDS * self.time_scale, hold)
        for moment in self.active:
            if moment.kind == kind and moment.desk == desk and moment.link == link:
                moment.t, moment.until = t, max(moment.until, until)
                moment.occurrences += 1
                moment.detail = detail or moment.detail
                return moment
        moment = Moment(kind, t, until, desk, link, title or TITLES[kind], detail)
        self.active.append(moment)
        return moment

    def _tick(self, kind: str, t: float, line: str) -> None:
        since = t - (self.origin if self.origin is not None else t)
        last = self.ticker[-1] if self.ticker else None
        if last is not None and last.kind == kind and _same_subject(last.text, line):
            last.count += 1
            last.t, last.text = since, line
            return
        self.ticker.append(TickerLine(since, kind, line))

    def expire(self, now: float) -> None:
        """Let go of the moments whose time on screen is over."""
        if any(m.until < now for m in self.active):
            self.active = [m for m in self.active if m.until >= now]

    def mark_shown(self, moment: Moment) -> None:
        """The view drew ``moment`` this frame: its occurrences so far were seen."""
        fresh = moment.occurrences - moment.shown_occurrences
        if fresh > 0:
            self.shown[moment.kind] += fresh
            moment.shown_occurrences = moment.occurrences

    def seen(self) -> dict[str, Any]:
        """What the player saw, as data (``LEVEL-seen.json``)."""
        return {"shown": {kind: self.shown.get(kind, 0) for kind in MOMENT_KINDS},
                "happened": {kind: self.made.get(kind, 0) for kind in MOMENT_KINDS},
                "legend": sorted(self.legend),
                "ticker": [f"{line.t:6.1f}s {line.text}" + (f" ×{line.count}" if line.count > 1 else "")
                           for line in self.ticker]}


def _pair(value: Any) -> tuple[str, str] | None:
    if isinstance(value, list | tuple) and len(value) == 2:
        return str(value[0]), str(value[1])
    return None


def _note(event: dict[str, Any]) -> str:
    return str(event.get("note") or "a note")


def _aisle(link: tuple[str, str] | None) -> str:
    return f"{link[0]}–{link[1]}" if link else "an aisle"


def _identity(spiffe: str) -> str:
    """``spiffe://classroom.local/ns/x/sa/ben`` (or Consul's ``.../svc/ben``) → ``ben``."""
    for marker in ("/sa/", "/svc/"):
        if marker in spiffe:
            return spiffe.rsplit(marker, 1)[-1]
    return spiffe or "?"


def _short_card(card: str) -> str:
    if "own CA" in card:
        return "a fake card (her own CA)"
    if "sa/teacher" in card or card == "teacher":
        return "the teacher's card"
    return _identity(card)


def _same_subject(a: str, b: str) -> bool:
    """Two ticker lines about the same hand doing the same thing (the note's number may differ)."""
    return a.split(" ", 2)[:2] == b.split(" ", 2)[:2]


_MAKERS = {
    "teacher_read": Moments._bubble,
    "teacher_saw_ciphertext": Moments._bubble,
    "teacher_saw_sealed": Moments._bubble,
    "peeked": Moments._peek,
    "teacher_impersonation": Moments._impersonation,
    "teacher_impersonation_accepted": Moments._impersonation,
    "tls_rejected": Moments._tls_rejected,
    "aisle_redirected": Moments._redirected,
    "teacher_caught": Moments._caught,
    "policy_denied": Moments._denied,
    "retried": Moments._retried,
    "ejected": Moments._ejected,
    "dropped": Moments._turned_away,
    "refused": Moments._turned_away,
    "absent_refused": Moments._turned_away,
    "seal_broken": Moments._turned_away,
    "teacher_forged_accepted": Moments._forgery,
    "live_action": Moments._lecture,
    "live_action_failed": Moments._lecture,
    "rules_set": Moments._lecture,
    "rate_changed": Moments._lecture,
    "script_failed": Moments._lecture,
}
