"""The office's channel: the typed messages a proxy and the office exchange.

Theory of operation
-------------------
Each proxy (and the teacher) talks to the office over its own Unix socket, in
CONTROL frames whose header names a ``type``.  As on every other connection,
a message is checked field by field when it is decoded
(:mod:`classroom.mesh.runtime.messages` gives the small typed readers), so a
malformed one is the sender's protocol error, closing that one channel, and
an exception raised while acting on a well-formed one is ours.

Proxy to office::

    hello    {proxy, pid, hands: [{name, csr, keys: {seal, sign}}]}   one CSR per student it serves
    ack      {proxy, version, links: [{from, to, up, error, tls}]}    a configuration version is in force
    renew    {proxy, hand, csr}                                       a new card before the old one lapses
    presence {hand, present}                                          the student left her desk, or is back

Office to proxy::

    certs  {certs: {student: PEM}, bundle}    bundle {bundle}    start {}
    config {version, hands: {student: {routes, ties, neighbours: [{name, identity, address, meshed}]}},
            roll: {student: {seal, sign}}, present: [student], labels, policy}
"""

from __future__ import annotations

from typing import Any, NamedTuple

from classroom.mesh.control.policy import MeshPolicy
from classroom.mesh.runtime.messages import flag, integer, mapping, text
from classroom.mesh.runtime.wire import Frame, RemoteProtocolError


class HandHello(NamedTuple):
    name: str
    csr: str
    keys: dict[str, str]


class ProxyHello(NamedTuple):
    proxy: str
    pid: int
    hands: list[HandHello]


class ConfigAck(NamedTuple):
    proxy: str
    version: int
    links: list[dict[str, Any]]


class Renew(NamedTuple):
    proxy: str
    hand: str
    csr: str


class Presence(NamedTuple):
    hand: str
    present: bool


class Neighbour(NamedTuple):
    name: str
    identity: str
    address: tuple[str, int]
    meshed: bool


class HandConfig(NamedTuple):
    routes: dict[str, list[str]]  # destination -> the next hops that can take a note on, nearest first
    ties: dict[str, int]  # destination -> how many of its first next hops are equally near
    neighbours: list[Neighbour]


class Config(NamedTuple):
    version: int
    hands: dict[str, HandConfig]
    roll: dict[str, dict[str, str]]
    present: frozenset[str]
    labels: dict[str, dict[str, str]]
    policy: MeshPolicy


def _list(header: dict[str, Any], key: str, what: str) -> list[Any]:
    value = header.get(key)
    if type(value) is not list:
        raise RemoteProtocolError(f"{what} field {key!r} must be a list")
    return value


def _keys(value: Any, what: str) -> dict[str, str]:
    if type(value) is not dict or not all(type(value.get(k)) is str for k in ("seal", "sign")):
        raise RemoteProtocolError(f"{what}: public keys must be {{seal, sign}} as hex text")
    return value


def decode_proxy_message(frame: Frame) -> ProxyHello | ConfigAck | Renew | Presence:
    """A proxy's message to the office (RemoteProtocolError if it is not one)."""
    h = frame.header
    kind = text(h, "type", "CONTROL")
    if kind == "hello":
        hands = []
        for entry in _list(h, "hands", "hello"):
            if type(entry) is not dict:
                raise RemoteProtocolError("hello: each hand must be a mapping")
            hands.append(HandHello(text(entry, "name", "hello hand"), text(entry, "csr", "hello hand"),
                                   _keys(entry.get("keys"), "hello hand")))
        return ProxyHello(text(h, "proxy", "hello"), integer(h, "pid", "hello"), hands)
    if kind == "ack":
        links = _list(h, "links", "ack")
        if not all(type(link) is dict for link in links):
            raise RemoteProtocolError("ack: each link must be a mapping")
        return ConfigAck(text(h, "proxy", "ack"), integer(h, "version", "ack"), links)
    if kind == "renew":
        return Renew(text(h, "proxy", "renew"), text(h, "hand", "renew"), text(h, "csr", "renew"))
    if kind == "presence":
        return Presence(text(h, "hand", "presence"), flag(h, "present", "presence"))
    raise RemoteProtocolError(f"a proxy does not send the office {kind!r}")


def decode_config(frame: Frame) -> Config:
    """The office's configuration push, as a proxy reads it."""
    h = frame.header
    try:
        policy = MeshPolicy.from_json(mapping(h, "policy", "config"))
    except (KeyError, TypeError, ValueError) as exc:
        raise RemoteProtocolError(f"config: the policy does not read: {exc!r}") from None
    hands: dict[str, HandConfig] = {}
    for name, entry in mapping(h, "hands", "config").items():
        if type(entry) is not dict:
            raise RemoteProtocolError(f"config: hand {name!r} must be a mapping")
        routes = mapping(entry, "routes", f"config for {name}")
        if not all(type(v) is list and all(type(n) is str for n in v) for v in routes.values()):
            raise RemoteProtocolError(f"config for {name}: each route must be a list of names")
        neighbours = []
        for n in _list(entry, "neighbours", f"config for {name}"):
            address = n.get("address") if type(n) is dict else None
            if type(address) is not list or len(address) < 2 or type(address[1]) is not int:
                raise RemoteProtocolError(f"config for {name}: a neighbour needs an address [host, port]")
            neighbours.append(Neighbour(text(n, "name", "neighbour"), text(n, "identity", "neighbour"),
                                        (str(address[0]), address[1]), bool(n.get("meshed", True))))
        ties = entry.get("ties", {})
        if type(ties) is not dict or not all(type(n) is int for n in ties.values()):
            raise RemoteProtocolError(f"config for {name}: ties must map destinations to counts")
        hands[name] = HandConfig(routes, ties, neighbours)
    roll = mapping(h, "roll", "config")
    for student, keys in roll.items():
        _keys(keys, f"config roll entry {student!r}")
    present = h.get("present", list(roll))
    if type(present) is not list:
        raise RemoteProtocolError("config field 'present' must be a list of names")
    labels = h.get("labels", {})
    if type(labels) is not dict:
        raise RemoteProtocolError("config field 'labels' must be a mapping")
    return Config(integer(h, "version", "config"), hands, roll, frozenset(map(str, present)), labels, policy)
