"""The class rules as the proxies use them, derived from Istio-shaped resources.

Theory of operation
-------------------
A level (or the player's ``--config``) gives a list of resources in Istio's
shapes.  The office turns them into one :class:`MeshPolicy` (plain data,
JSON-able) and pushes it to every proxy.  Nothing here does I/O; every rule is
a pure function of the resources, with unit tests of its own.

Where a resource says nothing, the profile's defaults apply, as in the real
meshes: Istio retries twice on ``connect-failure,refused-stream,unavailable,
cancelled`` (the hidden default retries of istio/istio#20547); Linkerd does
not retry unless told to.  All times are at speed 1; the proxy divides them by
the round's speed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from classroom.durations import parse_duration
from classroom.mesh.control import authz

STRICT, PERMISSIVE, DISABLE = "STRICT", "PERMISSIVE", "DISABLE"
# Istio's default retryOn when a VirtualService sets no retries (MeshConfig defaultHttpRetryPolicy).
DEFAULT_RETRY_ON = frozenset({"connect-failure", "refused-stream", "unavailable", "cancelled"})
# A note's lifetime when no VirtualService sets a timeout, at speed 1.
DEFAULT_NOTE_TIMEOUT = 15.0
PROFILE_DEFAULT_ATTEMPTS = {"istio": 2, "consul": 0, "linkerd": 0, "cilium": 0, "traefik": 0,
                            "appmesh": 0, "nginx": 0}


@dataclass(frozen=True)
class Retries:
    attempts: int = 2
    per_try_timeout: float | None = None
    retry_on: tuple[str, ...] = tuple(sorted(DEFAULT_RETRY_ON))


@dataclass(frozen=True)
class Fault:
    delay_percent: float = 0.0
    delay: float = 0.0
    abort_percent: float = 0.0
    abort_status: int = 503


@dataclass(frozen=True)
class Destination:
    """One weighted route of a VirtualService: a host, maybe a subset of it."""

    host: str
    subset: str | None = None
    weight: int = 100


@dataclass(frozen=True)
class RoutePolicy:
    """What a VirtualService says about notes to one host."""

    timeout: float | None = None
    retries: Retries | None = None
    fault: Fault | None = None
    route: tuple[Destination, ...] = ()


@dataclass(frozen=True)
class Outlier:
    consecutive_errors: int = 5
    interval: float = 10.0
    base_ejection_time: float = 30.0
    max_ejection_percent: float = 10.0


@dataclass(frozen=True)
class Budget:
    percent: float = 20.0
    min_retry_concurrency: int = 3


@dataclass(frozen=True)
class DestinationPolicy:
    """What a DestinationRule says about traffic to one host."""

    outlier: Outlier | None = None
    budget: Budget | None = None
    subsets: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> labels


@dataclass(frozen=True)
class Identity:
    """How the office hands out ID cards (times at speed 1)."""

    cert_lifetime: float = 3600.0
    renew_at: float = 0.5  # share of a card's life after which its proxy asks for a new one
    ca_rotate_at: float | None = None  # a new class CA from then on, trusted beside the old one
    trust_old_root_until: float | None = None  # when the old root leaves the trust bundle


NO_ROUTE_POLICY = RoutePolicy()
NO_DESTINATION_POLICY = DestinationPolicy()


@dataclass(frozen=True)
class MeshPolicy:
    mtls_mode: str = PERMISSIVE  # Istio: an unset PeerAuthentication is treated as PERMISSIVE
    default_attempts: int = 2
    routes: dict[str, RoutePolicy] = field(default_factory=dict)
    destinations: dict[str, DestinationPolicy] = field(default_factory=dict)
    authz: tuple[authz.Policy, ...] = ()
    identity: Identity = field(default_factory=Identity)

    def __post_init__(self) -> None:
        # Asked for at every hand for every note: the defaults are made once, not per call.
        object.__setattr__(self, "_default_retries", Retries(attempts=self.default_attempts))

    def route(self, host: str) -> RoutePolicy:
        return self.routes.get(host) or self.routes.get("*") or NO_ROUTE_POLICY

    def note_timeout(self, host: str) -> float:
        timeout = self.route(host).timeout
        return timeout if timeout is not None else DEFAULT_NOTE_TIMEOUT

    def retries(self, host: str) -> Retries:
        retries = self.route(host).retries
        return retries if retries is not None else self._default_retries  # type: ignore[attr-defined]

    def destination(self, host: str) -> DestinationPolicy:
        return self.destinations.get(host) or self.destinations.get("*") or NO_DESTINATION_POLICY

    @property
    def has_faults(self) -> bool:
        return any(r.fault is not None for r in self.routes.values())

    @property
    def has_per_try_timeouts(self) -> bool:
        return any(r.retries is not None and r.retries.per_try_timeout is not None for r in self.routes.values())

    @property
    def has_outlier_detection(self) -> bool:
        return any(d.outlier is not None for d in self.destinations.values())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["authz"] = authz.to_json(self.authz)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MeshPolicy:
        routes = {}
        for host, rp in data.get("routes", {}).items():
            retries = Retries(**{**rp["retries"], "retry_on": tuple(rp["retries"]["retry_on"])}) \
                if rp.get("retries") else None
            fault = Fault(**rp["fault"]) if rp.get("fault") else None
            route = tuple(Destination(**d) for d in rp.get("route", ()))
            routes[host] = RoutePolicy(timeout=rp.get("timeout"), retries=retries, fault=fault, route=route)
        destinations = {
            host: DestinationPolicy(
                outlier=Outlier(**dp["outlier"]) if dp.get("outlier") else None,
                budget=Budget(**dp["budget"]) if dp.get("budget") else None,
                subsets=dp.get("subsets", {}),
            )
            for host, dp in data.get("destinations", {}).items()
        }
        return cls(mtls_mode=data.get("mtls_mode", PERMISSIVE),
                   default_attempts=int(data.get("default_attempts", 2)),
                   routes=routes, destinations=destinations,
                   authz=authz.from_json(data.get("authz", ())),
                   identity=Identity(**data.get("identity", {})))


def _seconds(value: Any, default: float | None = None) -> float | None:
    return parse_duration(value) if value is not None else default


def _percent(value: Any) -> float:
    """Istio writes percentages as {value: 12.5} or, in older fields, a bare number."""
    if isinstance(value, dict):
        value = value.get("value", 0.0)
    return float(value or 0.0)


def _retries(spec: dict[str, Any]) -> Retries:
    retry_on = spec.get("retryOn")
    tokens = tuple(sorted(t.strip() for t in retry_on.split(",") if t.strip())) if retry_on \
        else Retries().retry_on
    return Retries(attempts=int(spec.get("attempts", 0)),
                   per_try_timeout=_seconds(spec.get("perTryTimeout")), retry_on=tokens)


def _fault(spec: dict[str, Any]) -> Fault:
    delay = spec.get("delay") or {}
    abort = spec.get("abort") or {}
    return Fault(delay_percent=_percent(delay.get("percentage")) if delay else 0.0,
                 delay=_seconds(delay.get("fixedDelay"), 0.0) or 0.0,
                 abort_percent=_percent(abort.get("percentage")) if abort else 0.0,
                 abort_status=int(abort.get("httpStatus", 503)))


def mesh_policy(resources: tuple[dict[str, Any], ...] | list[dict[str, Any]],
                profile: str = "istio", namespace: str = "classroom") -> MeshPolicy:
    """The policy the resources describe (they were validated when loaded)."""
    mode = PERMISSIVE
    routes: dict[str, RoutePolicy] = {}
    destinations: dict[str, DestinationPolicy] = {}
    identity = Identity()
    for resource in resources:
        kind = resource.get("kind")
        spec = resource.get("spec") or {}
        if kind == "PeerAuthentication" and not (spec.get("selector") or {}).get("matchLabels"):
            declared = (spec.get("mtls") or {}).get("mode", "UNSET")
            mode = PERMISSIVE if declared == "UNSET" else declared
        elif kind == "VirtualService":
            for http in (spec.get("http") or [])[:1]:  # the first route rule applies to every note
                routes_to = http.get("route") or []
                policy = RoutePolicy(
                    timeout=_seconds(http.get("timeout")),
                    retries=_retries(http["retries"]) if http.get("retries") is not None else None,
                    fault=_fault(http["fault"]) if http.get("fault") else None,
                    route=tuple(
                        Destination(host=str(r["destination"]["host"]), subset=r["destination"].get("subset"),
                                    weight=int(r.get("weight", 100 if len(routes_to) == 1 else 0)))
                        for r in routes_to
                    ),
                )
                for host in spec.get("hosts") or []:
                    routes[host] = policy
        elif kind == "IdentityPolicy":
            rotation = spec.get("caRotation") or {}
            identity = Identity(
                cert_lifetime=_seconds(spec.get("certLifetime"), 3600.0) or 3600.0,
                renew_at=float(spec.get("renewAt", 0.5)),
                ca_rotate_at=_seconds(rotation.get("at")),
                trust_old_root_until=_seconds(rotation.get("trustOldRootUntil")),
            )
        elif kind == "DestinationRule":
            traffic = spec.get("trafficPolicy") or {}
            od = traffic.get("outlierDetection")
            rb = traffic.get("retryBudget")
            outlier = Outlier(
                consecutive_errors=int(od.get("consecutive5xxErrors", od.get("consecutiveGatewayErrors", 5))),
                interval=_seconds(od.get("interval"), 10.0) or 10.0,
                base_ejection_time=_seconds(od.get("baseEjectionTime"), 30.0) or 30.0,
                max_ejection_percent=float(od.get("maxEjectionPercent", 10)),
            ) if od is not None else None
            budget = Budget(percent=_percent(rb.get("percent", 20.0)),
                            min_retry_concurrency=int(rb.get("minRetryConcurrency", 3))) \
                if rb is not None else None
            subsets = {str(sub["name"]): {str(k): str(v) for k, v in (sub.get("labels") or {}).items()}
                       for sub in spec.get("subsets") or []}
            host = spec.get("host")
            if host:
                destinations[host] = DestinationPolicy(outlier=outlier, budget=budget, subsets=subsets)
    return MeshPolicy(mtls_mode=mode, default_attempts=PROFILE_DEFAULT_ATTEMPTS.get(profile, 0),
                      routes=routes, destinations=destinations,
                      authz=authz.policies_from(resources, namespace), identity=identity)
