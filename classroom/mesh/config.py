"""The class rules as the proxies use them, derived from Istio-shaped resources.

Theory of operation
-------------------
A level (or the player's ``--config``) gives a list of resources in Istio's
shapes.  The office turns them into one :class:`MeshPolicy` (plain data,
JSON-able) and pushes the parts that concern each proxy.  Nothing here does
I/O; every rule is a pure function of the resources, so it has unit tests of
its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from classroom.durations import parse_duration

STRICT, PERMISSIVE, DISABLE = "STRICT", "PERMISSIVE", "DISABLE"
# A note's lifetime when no VirtualService sets a timeout, at speed 1.
DEFAULT_NOTE_TIMEOUT = 15.0


@dataclass(frozen=True)
class RoutePolicy:
    """What a VirtualService says about notes to one host."""

    timeout: float | None = None


@dataclass(frozen=True)
class MeshPolicy:
    mtls_mode: str = PERMISSIVE  # Istio: an unset PeerAuthentication is treated as PERMISSIVE
    routes: dict[str, RoutePolicy] = field(default_factory=dict)

    def note_timeout(self, host: str) -> float:
        route = self.routes.get(host)
        if route is not None and route.timeout is not None:
            return route.timeout
        return DEFAULT_NOTE_TIMEOUT

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MeshPolicy:
        routes = {host: RoutePolicy(**rp) for host, rp in data.get("routes", {}).items()}
        return cls(mtls_mode=data.get("mtls_mode", PERMISSIVE), routes=routes)


def mesh_policy(resources: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> MeshPolicy:
    """The policy the resources describe (they were validated when loaded)."""
    mode = PERMISSIVE
    routes: dict[str, RoutePolicy] = {}
    for resource in resources:
        kind = resource.get("kind")
        spec = resource.get("spec") or {}
        if kind == "PeerAuthentication" and not (spec.get("selector") or {}).get("matchLabels"):
            declared = (spec.get("mtls") or {}).get("mode", "UNSET")
            mode = PERMISSIVE if declared == "UNSET" else declared
        elif kind == "VirtualService":
            for http in spec.get("http") or []:
                timeout = http.get("timeout")
                for host in spec.get("hosts") or []:
                    routes[host] = RoutePolicy(
                        timeout=parse_duration(timeout) if timeout is not None else None
                    )
    return MeshPolicy(mtls_mode=mode, routes=routes)
