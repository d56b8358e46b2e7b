"""Watching a round from the runner: when the room is ready, when it is over, and what died.

Theory of operation
-------------------
The runner's :class:`Watch` reads every event the hub gathers and keeps what
it needs to end the round: which notes were sent and which have their one
terminal state (a ``result`` from the sender's proxy, or ``abandoned`` from
a student whose own proxy died), which senders are done, and which processes
have gone away (the runner learns that from the kernel, through a pidfd per
process, not from a process that may be dead itself).

A round is over when every sender is done and every note sent is settled.
Deaths settle notes too, so that a round never waits for what cannot come:

* a student who is gone is done sending;
* when both a sender and her proxy are gone, her unsettled notes are
  recorded ``abandoned`` by the runner (nobody else can any more);
* when the launcher is gone, every process of the round died with it
  (PR_SET_PDEATHSIG): every unsettled note is abandoned, with the reason,
  and the round ends at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Watch:
    senders: set[str]
    emit: Callable[..., dict[str, Any]]  # the hub's: an event of the runner's own
    sent: dict[str, str] = field(default_factory=dict)  # note -> its sender
    settled: set[str] = field(default_factory=set)
    done: set[str] = field(default_factory=set)
    delivered_results: set[str] = field(default_factory=set)
    handed: set[str] = field(default_factory=set)  # notes a recipient's proxy reported delivered
    gone: set[tuple[str, str]] = field(default_factory=set)  # (role, name) of processes that went away
    ready_at: float | None = None
    dismissed: str | None = None  # why the round ended early: the launcher went away ...
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    both_sides: asyncio.Event = field(default_factory=asyncio.Event)  # every delivered note seen at both ends

    def observe(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        note = event.get("note")
        if kind == "sent" and isinstance(note, str):
            self.sent.setdefault(note, str(event.get("from")))
        elif kind == "result" and isinstance(note, str):
            self.settled.add(note)
            if event.get("state") == "delivered":
                self.delivered_results.add(note)
        elif kind == "abandoned" and isinstance(note, str):
            self.sent.setdefault(note, str(event.get("from")))
            self.settled.add(note)
        elif kind == "delivered" and isinstance(note, str):
            self.handed.add(note)
        elif kind == "student_done":
            self.done.add(str(event.get("hand")))
        elif kind == "room_ready":
            self.ready_at = float(event.get("seconds") or 0.0)
            self.ready.set()
        self._check()

    def _check(self) -> None:
        if not self.finished.is_set() and self.done >= self.senders and self.settled >= set(self.sent):
            self.finished.set()
        if self.finished.is_set() and not self.both_sides.is_set() and self.delivered_results <= self.handed:
            self.both_sides.set()

    def unsettled(self, sender: str | None = None) -> list[str]:
        return sorted(n for n, who in self.sent.items() if n not in self.settled and sender in (None, who))

    def process_gone(self, role: str, name: str, proxy_of: Callable[[str], str | None]) -> None:
        """A process of the round went away; settle what can no longer settle itself."""
        self.gone.add((role, name))
        if role == "launcher":
            self.dismissed = "the launcher went away: every process of the round stopped with it"
            for note in self.unsettled():
                self._abandon(note, "the class was dismissed: the launcher went away and every process with it")
            self.done |= self.senders
            self.ready.set()  # nothing more will come: whoever waits for the room stops waiting
        elif role == "student":
            self.done.add(name)
            self._orphans(name, proxy_of(name))
        elif role == "proxy":
            for student in name.split("+"):
                self._orphans(student, name)
        self._check()

    def _orphans(self, student: str, proxy: str | None) -> None:
        """Both a sender and her proxy gone: her notes without an outcome end here."""
        if ("student", student) in self.gone and proxy is not None and ("proxy", proxy) in self.gone:
            for note in self.unsettled(student):
                self._abandon(note, f"{student} and her own hand (her proxy) both went away")

    def _abandon(self, note: str, reason: str) -> None:
        self.emit("abandoned", note=note, **{"from": self.sent[note]}, reason=reason)
