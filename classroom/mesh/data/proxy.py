"""A proxy process: the data plane of one student (a sidecar) or of a row (a row's proxy).

Theory of operation
-------------------
The proxy talks to the office over the Unix socket the runner made for it
(the channel itself proves which proxy speaks, as a pod's service-account
token would) and serves its students' hands (:mod:`classroom.mesh.data.hand`):

1. it says ``hello`` with one CSR and the public sealing keys per hand;
2. it installs the ``certs`` the office returns (and later ``bundle``\\ s:
   the trust roots, during a CA rotation);
3. it applies each ``config`` version to every hand and acknowledges it with
   the state of the hands' links; on ``start`` the hands tell their students
   the class has begun.

Everything a hand reports goes to the office as batched events on the same
channel.  A note travels forward as a NOTE frame; its end-to-end outcome
travels back along the same connections as an ACK frame, keyed by (note id,
attempt), the way a response follows its request through a chain of HTTP
proxies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from typing import Any

from classroom.mesh.control import protocol
from classroom.mesh.data.hand import Hand
from classroom.mesh.data.seal import PublicKeys
from classroom.mesh.runtime import net, process, wire
from classroom.mesh.runtime.messages import control_type, mapping, text
from classroom.mesh.runtime.net import FrameConnection
from classroom.mesh.runtime.specs import ProxySpec

SWEEP_EVERY = 1.0  # room seconds between two sweeps of the recipients' old receipts


class Proxy(process.Role):
    """A proxy process: its control channel to the office and its hands."""

    spec: ProxySpec

    def __init__(self, spec: ProxySpec, fds: list[int]) -> None:
        super().__init__(spec, fds)
        self.title = f"classroom: proxy {'+'.join(h.name for h in spec.hands)}"
        self.hands: dict[str, Hand] = {}
        self.config_version = 0

    def source(self) -> str:
        return self.spec.id

    def tell_office(self, message: dict[str, Any]) -> bool:
        """A message to the office; False (and nothing sent) while the office is away."""
        return self.control is not None and self.control.send(wire.FrameType.CONTROL, message)

    async def main(self) -> None:
        for i, hand_spec in enumerate(self.spec.hands):
            peer_sock = socket.socket(fileno=self.fds[1 + 2 * i])
            app_sock = socket.socket(fileno=self.fds[2 + 2 * i])
            peer_sock.setblocking(False)
            app_sock.setblocking(False)
            self.hands[hand_spec.name] = Hand(self, hand_spec, peer_sock, app_sock)
        self.control = await self.connect_unix(self.fds[0], self._on_control, self._office_gone, "the office")
        self.tell_office({"type": "hello", "proxy": self.spec.id, "pid": os.getpid(),
                          "hands": [h.hello() for h in self.hands.values()]})
        for hand in self.hands.values():
            net.spawn(hand.serve())
        self._sweep()

    def on_runner(self, message: dict[str, Any]) -> None:
        """A lecture changes how one of our hands behaves, live: she starts (or stops) dropping or
        refusing the notes she is handed (``{"type": "behave", "hand": name, "drops": p, "refuses": b}``)."""
        hand = self.hands.get(str(message.get("hand"))) if message.get("type") == "behave" else None
        if hand is None:
            super().on_runner(message)
            return
        changes: dict[str, Any] = {}
        drops, refuses = message.get("drops"), message.get("refuses")
        if isinstance(drops, (int, float)) and not isinstance(drops, bool) and 0.0 <= drops <= 1.0:
            changes["drops"] = float(drops)
        if isinstance(refuses, bool):
            changes["refuses"] = refuses
        if changes:
            hand.behaviour = dataclasses.replace(hand.behaviour, **changes)
            self.events.emit("behaviour_changed", hand=hand.name, **changes)

    def _office_gone(self, conn: FrameConnection, exc: Exception | None) -> None:
        """The control plane went away: the data plane goes on with its last configuration and cards,
        as Envoy does without istiod (no new cards, rules or routes until it is back)."""
        self.control = None
        if not self.stopping:
            self.events.emit("office_lost", proxy=self.spec.id, version=self.config_version)

    def _sweep(self) -> None:
        now = self.clock.now()
        for hand in self.hands.values():
            hand.sweep(now)
        self.clock.call_later(SWEEP_EVERY, self._sweep)

    def _on_control(self, conn: FrameConnection, frame: wire.Frame) -> None:
        if frame.type is not wire.FrameType.CONTROL:
            raise wire.RemoteProtocolError(f"unexpected {frame.type.name} frame from the office")
        message = frame.header
        kind = control_type(frame)
        if kind == "certs":
            bundle = text(message, "bundle", "certs")
            for name, cert in mapping(message, "certs", "certs").items():
                hand = self.hands.get(name)
                if hand is None or not isinstance(cert, str):
                    raise wire.RemoteProtocolError(f"certs for {name!r}, which this proxy does not serve")
                hand.install_certificate(cert, bundle)
        elif kind == "bundle":
            bundle = text(message, "bundle", "bundle")
            for hand in self.hands.values():
                hand.install_bundle(bundle)
        elif kind == "config":
            net.spawn(self._apply(protocol.decode_config(frame)))
        elif kind == "start":
            for hand in self.hands.values():
                hand.start()

    async def _apply(self, config: protocol.Config) -> None:
        roll = {name: PublicKeys.from_json(keys) for name, keys in config.roll.items()}
        results = await asyncio.gather(*(
            hand.apply(config.hands[name], roll, config.policy, config.present, config.labels)
            for name, hand in self.hands.items() if name in config.hands))
        self.config_version = config.version
        self.tell_office({"type": "ack", "proxy": self.spec.id, "version": config.version,
                          "links": [link for result in results for link in result]})

ROLE = Proxy
