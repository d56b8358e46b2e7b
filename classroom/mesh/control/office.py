"""The office: the control plane of a round.

Theory of operation
-------------------
The office holds the class CA, keeps the roll, computes routes and fans
events out.  It talks to each proxy over a Unix socket pair the runner made
before either process started, so the channel itself proves which proxy is
speaking (as a pod's service-account token would).

1. Each proxy says ``hello`` with one CSR and the public sealing keys per
   student it serves.  The office checks that each CSR names that student's
   SPIFFE ID, signs it, and answers ``certs`` with the trust bundle.
2. When every proxy has said hello, the roll is complete: the office computes
   routes over the seating graph (networkx) and pushes ``config`` version N to
   every proxy (neighbours with addresses and identities, next hops, the
   roll's public keys, the mesh policy).
3. Each proxy dials its neighbours and acknowledges version N with the state
   of its links.  When all have, the office says ``start`` and the round's
   traffic begins; it emits ``room_ready`` with the time that took.

The office's events go, as every process's do, straight to the runner's event
hub (:mod:`classroom.mesh.runtime.hub`): the class goes on, and is seen to go
on, when the office goes home.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classroom.level.seating import route_table, seating_graph
from classroom.mesh.control import linkerd, pki, protocol
from classroom.mesh.runtime import messages, net, process, wire
from classroom.mesh.runtime.net import FrameConnection
from classroom.mesh.runtime.specs import OfficeSpec

if TYPE_CHECKING:
    pass

CONTROL, EVENT = wire.FrameType.CONTROL, wire.FrameType.EVENT


class Office(process.Role):
    title = "classroom: office"
    spec: OfficeSpec

    def __init__(self, spec: OfficeSpec, fds: list[int]) -> None:
        super().__init__(spec, fds)
        self.namespace = spec.namespace
        self.profile = spec.profile  # the class's mesh: the form of the ID cards it signs
        channels = [*spec.proxies, *(["aisles"] if spec.aisles else []), *(["teacher"] if spec.teacher else [])]
        self.control_fds = dict(zip(channels, self.fds, strict=True))
        self.aisles: FrameConnection | None = None
        self.teacher: FrameConnection | None = None
        self.ca = (
            pki.CertificateAuthority.load(Path(spec.ca_dir))
            if spec.ca_dir
            else pki.CertificateAuthority.create()
        )
        identity = spec.policy.get("identity", {})
        self.identity = identity
        self.policy: dict[str, Any] = spec.policy  # the one every proxy gets; a lecture may push another
        self.cert_lifetime = float(identity.get("cert_lifetime", pki.DEFAULT_LEAF_LIFETIME))  # room seconds
        self.trusted = [self.ca]  # the roots in the trust bundle; the last one signs
        self.proxies: dict[str, FrameConnection] = {}
        self.hellos: dict[str, protocol.ProxyHello] = {}
        self.acks: dict[str, protocol.ConfigAck] = {}
        self.class_started = False
        self.roll: dict[str, dict[str, str]] = {}
        self.away: set[str] = set()  # on the roll, but not at their desks
        self.lost: set[str] = set()  # proxy processes that went away
        self.version = 0
        self.started_at = self.clock.wall()

    @property
    def leaf_lifetime(self) -> float:
        """A card's life in real seconds: its room lifetime at the round's rate (the TLS library
        checks it against the real clock)."""
        return self.cert_lifetime / max(self.clock.rate, 1e-9)

    # --- the control channel --------------------------------------------------------
    def _on_proxy_frame(self, conn: FrameConnection, frame: wire.Frame) -> None:
        if frame.type is not CONTROL:
            raise wire.RemoteProtocolError(f"unexpected {frame.type.name} frame on the office's channel")
        proxy_id = conn.context
        if proxy_id == "teacher":
            if messages.control_type(frame) == "hello":
                self._on_teacher_hello(conn, messages.text(frame.header, "csr", "hello"))
            return
        if proxy_id == "aisles":
            return  # the aisles send only events
        message = protocol.decode_proxy_message(frame)
        if isinstance(message, protocol.ProxyHello):
            self._on_hello(conn, proxy_id, message)
        elif isinstance(message, protocol.ConfigAck):
            self._on_ack(proxy_id, message)
        elif isinstance(message, protocol.Renew):
            self._on_renew(conn, message)
        else:
            self._on_presence(message.hand, message.present)

    def _on_presence(self, hand: str, present: bool) -> None:
        """A student left her desk or came back: the roll changes, so do the routes."""
        if present:
            self.away.discard(hand)
        else:
            self.away.add(hand)
        self.events.emit("roll_changed", hand=hand, present=present)
        self._push_config()

    def _on_proxy_lost(self, conn: FrameConnection, exc: Exception | None) -> None:
        """A proxy process is gone (killed, crashed): its students are off the routes."""
        proxy_id = conn.context
        if self.stopping or proxy_id in self.lost or proxy_id in ("aisles", "teacher"):
            return
        self.lost.add(proxy_id)
        gone = [name for name, h in self.spec.hands.items() if h["proxy"] == proxy_id]
        self.away.update(gone)
        self.events.emit("proxy_lost", proxy=proxy_id, hands=gone)
        if self.version:
            self._push_config()
        else:
            self._maybe_first_config()

    def _names(self, identity: str) -> tuple[str, ...]:
        """A card's DNS names: under Linkerd, its identity string (``ben.<level>.serviceaccount.identity.linkerd
        .cluster.local``), which Linkerd's identity service puts in every proxy's certificate."""
        return (linkerd.linkerd_identity(pki.principal(identity)),) if self.spec.profile == "linkerd" else ()

    def _on_hello(self, conn: FrameConnection, proxy_id: str, message: protocol.ProxyHello) -> None:
        hands = self.spec.hands
        certs: dict[str, str] = {}
        for hand in message.hands:
            name = hand.name
            if hands.get(name, {}).get("proxy") != proxy_id:
                net.log("office", f"proxy {proxy_id} asked for {name}, which it does not serve")
                continue
            identity = pki.spiffe_id(self.namespace, name, self.profile)
            try:
                cert = self.ca.issue(hand.csr.encode(), identity, self.leaf_lifetime,
                                     dns_names=self._names(identity))
            except (pki.IdentityError, ValueError) as exc:
                net.log("office", f"refused a certificate to {proxy_id}: {exc}")
                continue
            certs[name] = pki.cert_pem(cert).decode()
            self.roll[name] = hand.keys
            names = self._names(identity)
            self.events.emit(
                "cert_issued",
                hand=name,
                identity=identity,
                **({"dns_names": list(names)} if names else {}),
                not_after=cert.not_valid_after_utc.timestamp(),
                serial=format(cert.serial_number, "x"),
            )
        conn.send(CONTROL, {"type": "certs", "certs": certs, "bundle": self.bundle()})
        self.hellos[proxy_id] = message
        self._maybe_first_config()

    def _maybe_first_config(self) -> None:
        """The first configuration, once every proxy has said hello (or is gone without a word)."""
        if not self.version and all(p in self.hellos or p in self.lost for p in self.spec.proxies):
            self._push_config()

    def bundle(self) -> str:
        return "".join(ca.pem.decode() for ca in self.trusted)

    def _on_renew(self, conn: FrameConnection, message: protocol.Renew) -> None:
        """A proxy asks for a new card before its old one lapses: signed by today's CA."""
        name = message.hand
        if self.spec.hands.get(name, {}).get("proxy") != conn.context:
            net.log("office", f"{conn.context} asked to renew {name}'s card, which it does not hold")
            return
        identity = pki.spiffe_id(self.namespace, name, self.profile)
        try:
            cert = self.ca.issue(message.csr.encode(), identity, self.leaf_lifetime,
                                 dns_names=self._names(identity))
        except (pki.IdentityError, ValueError) as exc:
            net.log("office", f"refused to renew {name}'s card: {exc}")
            return
        self.events.emit("cert_rotated", hand=name, identity=identity,
                         not_after=cert.not_valid_after_utc.timestamp(),
                         serial=format(cert.serial_number, "x"), issuer=self.ca.cert.subject.rfc4514_string())
        conn.send(CONTROL, {"type": "certs", "certs": {name: pki.cert_pem(cert).decode()},
                            "bundle": self.bundle()})

    def _schedule_ca_rotation(self) -> None:
        rotate_at = self.identity.get("ca_rotate_at")
        drop_at = self.identity.get("trust_old_root_until")
        if rotate_at is not None:
            self.clock.call_later(rotate_at, self._rotate_ca)
            if drop_at is not None:
                self.clock.call_later(max(drop_at, rotate_at), self._drop_old_root)

    def _rotate_ca(self) -> None:
        """A new class CA: trusted beside the old one, and signing every card from now on."""
        self.ca = pki.CertificateAuthority.create("Classroom Mesh class CA (rotated)")
        self.trusted.append(self.ca)
        self.events.emit("ca_rotated", roots=len(self.trusted), subject=self.ca.cert.subject.rfc4514_string())
        self._push_bundle()

    def _drop_old_root(self) -> None:
        self.trusted = self.trusted[-1:]
        self.events.emit("old_root_removed", roots=len(self.trusted))
        self._push_bundle()

    def _push_bundle(self) -> None:
        for proxy_id, conn in self.proxies.items():
            if proxy_id not in self.lost:
                conn.send(CONTROL, {"type": "bundle", "bundle": self.bundle()})

    def _on_teacher_hello(self, conn: FrameConnection, csr: str) -> None:
        """The teacher is enrolled too: a genuine class card, for her own identity only."""
        identity = pki.spiffe_id(self.namespace, "teacher", self.profile)
        try:
            cert = self.ca.issue(csr.encode(), identity, self.leaf_lifetime)
        except (pki.IdentityError, ValueError) as exc:
            net.log("office", f"refused the teacher a certificate: {exc}")
            return
        self.events.emit("cert_issued", hand="teacher", identity=identity,
                         not_after=cert.not_valid_after_utc.timestamp(),
                         serial=format(cert.serial_number, "x"))
        conn.send(CONTROL, {"type": "certs", "certs": {"teacher": pki.cert_pem(cert).decode()},
                            "bundle": self.bundle()})

    def _push_config(self) -> None:
        self.version += 1
        enrolled = [name for name in self.spec.students if name in self.roll]
        graph = seating_graph(
            enrolled, [link for link in self.spec.links if link[0] in self.roll and link[1] in self.roll])
        # Routes go only through students at their desks; links to the others stay open.
        present = [name for name in enrolled if name not in self.away]
        table, ties = route_table(graph.subgraph(present))
        hands = self.spec.hands
        for proxy_id, conn in self.proxies.items():
            if proxy_id in self.lost:
                continue
            served = [name for name, h in hands.items() if h["proxy"] == proxy_id and name in self.roll]
            config = {
                name: {
                    "routes": table.get(name, {}),
                    "ties": ties.get(name, {}),
                    "neighbours": [
                        {
                            "name": n,
                            "identity": pki.spiffe_id(self.namespace, n, self.profile),
                            "meshed": n not in self.spec.unmeshed,
                            # Through the aisles when the room has them: they carry every link.
                            "address": self.spec.via.get(f"{name}>{n}", hands[n]["address"]),
                        }
                        for n in sorted(graph.neighbors(name))
                    ],
                }
                for name in served
            }
            conn.send(
                CONTROL,
                {
                    "type": "config",
                    "version": self.version,
                    "hands": config,
                    "roll": self.roll,
                    "present": present,
                    "labels": self.spec.labels,
                    "policy": self.policy,
                },
            )
        self.events.emit("config_pushed", version=self.version, proxies=len(self.proxies),
                         present=present, away=sorted(self.away))

    def on_runner(self, message: dict[str, Any]) -> None:
        """A rule change pushed live (a lecture's ``set``): a new version to every proxy."""
        policy = message.get("policy")
        if message.get("type") != "policy" or type(policy) is not dict:
            super().on_runner(message)
            return
        self.policy = policy
        self.events.emit("policy_changed", version=self.version + 1, resources=message.get("resources", []))
        if self.version:  # before the first push, the first push carries it
            self._push_config()

    def _on_ack(self, proxy_id: str, message: protocol.ConfigAck) -> None:
        if message.version != self.version:
            return
        self.acks[proxy_id] = message
        self.events.emit("config_acked", proxy=proxy_id, version=self.version, links=message.links)
        # The class starts once every proxy still there has this version with its links
        # (a proxy lost before then is off the routes of a later version, not waited for).
        if not self.class_started and all(
                p in self.lost or (p in self.acks and self.acks[p].version == self.version) for p in self.proxies):
            self.class_started = True
            for conn in self.proxies.values():
                conn.send(CONTROL, {"type": "start"})
            for channel in (self.aisles, self.teacher):
                if channel is not None:
                    channel.send(CONTROL, {"type": "start"})
            self._schedule_ca_rotation()
            down = [lk for p, ack in self.acks.items() if p not in self.lost for lk in ack.links if not lk.get("up")]
            self.events.emit(
                "room_ready", seconds=self.clock.wall() - self.started_at, students=len(self.roll), links_down=down
            )

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        for proxy_id, fd in self.control_fds.items():
            sock = socket.socket(fileno=fd)
            sock.setblocking(False)
            conn = FrameConnection(self._on_proxy_frame, self._on_proxy_lost, label=f"proxy {proxy_id}")
            conn.context = proxy_id
            # Known before it is read: its hello may come in while the next channels are being
            # opened, and the last hello pushes the configuration to every proxy known.
            if proxy_id == "aisles":
                self.aisles = conn
            elif proxy_id == "teacher":
                self.teacher = conn
            else:
                self.proxies[proxy_id] = conn
            await loop.create_unix_connection(lambda conn=conn: conn, sock=sock)  # type: ignore[misc]

ROLE = Office
