"""The office's translation of the class's resources into the one policy every proxy runs.

Theory of operation
-------------------
istiod turns VirtualServices, DestinationRules, PeerAuthentications and
AuthorizationPolicies into each proxy's configuration; the office does the
same with :func:`mesh_policy`, once per configuration version, and pushes the
result (:class:`~classroom.mesh.control.policy.MeshPolicy`).  The resources
were validated when they were loaded (:mod:`classroom.level.schema`): every
field that reaches here is one the classroom acts on, and this module is
where each of them takes effect.  Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from classroom.durations import parse_duration
from classroom.mesh.control import authz, cilium, intentions, linkerd
from classroom.mesh.control.policy import (
    BACKOFF_BASE,
    LEAST_REQUEST,
    PERMISSIVE,
    Budget,
    Destination,
    DestinationPolicy,
    Fault,
    HttpMatch,
    Identity,
    MeshPolicy,
    Outlier,
    PeerMode,
    Pool,
    Retries,
    RouteRule,
    Sealing,
    StringMatch,
    Subset,
    TrafficPolicy,
)
from classroom.mesh.control.profiles import CLASS_LIFETIME, PROFILES

Resource = Mapping[str, Any]


def _seconds(value: Any, default: float | None = None) -> float | None:
    return parse_duration(value) if value is not None else default


def _percent(value: Any) -> float:
    """A percentage: Istio's Percent message ``{value: 12.5}``, or a plain number (retryBudget.percent)."""
    if isinstance(value, Mapping):
        value = value.get("value", 0.0)
    return float(value or 0.0)


def _string_match(spec: Mapping[str, Any] | None) -> StringMatch | None:
    if not spec:
        return None
    for kind in ("exact", "prefix", "regex"):
        if kind in spec:
            return StringMatch(kind, str(spec[kind]))
    return None


def _match(spec: Mapping[str, Any]) -> HttpMatch:
    headers = tuple(sorted((str(name).lower(), m) for name, value in (spec.get("headers") or {}).items()
                           if (m := _string_match(value)) is not None))
    without = tuple(sorted((str(name).lower(), _string_match(value))
                           for name, value in (spec.get("withoutHeaders") or {}).items()))
    return HttpMatch(uri=_string_match(spec.get("uri")), method=_string_match(spec.get("method")),
                     headers=headers, without_headers=without, ignore_uri_case=bool(spec.get("ignoreUriCase")))


def _retries(spec: Mapping[str, Any]) -> Retries:
    retry_on = spec.get("retryOn")
    tokens = tuple(sorted(t.strip() for t in retry_on.split(",") if t.strip())) if retry_on else Retries().retry_on
    return Retries(attempts=int(spec.get("attempts", 0)), per_try_timeout=_seconds(spec.get("perTryTimeout")),
                   retry_on=tokens, backoff=_seconds(spec.get("backoff"), BACKOFF_BASE) or BACKOFF_BASE,
                   ignore_previous_hosts=bool(spec.get("retryIgnorePreviousHosts", True)))


def _fault(spec: Mapping[str, Any]) -> Fault:
    # "If percentage is not specified, no request is delayed/aborted" (Istio's HTTPFaultInjection).
    delay = spec.get("delay") or {}
    abort = spec.get("abort") or {}
    return Fault(delay_percent=_percent(delay.get("percentage")) if delay else 0.0,
                 delay=_seconds(delay.get("fixedDelay"), 0.0) or 0.0,
                 abort_percent=_percent(abort.get("percentage")) if abort else 0.0,
                 abort_status=int(abort.get("httpStatus", 503)))


def _rule(http: Mapping[str, Any], service: str) -> RouteRule:
    routes_to = http.get("route") or []
    return RouteRule(
        name=str(http.get("name", "")),
        matches=tuple(_match(m) for m in http.get("match") or []),
        timeout=_seconds(http.get("timeout")),
        retries=_retries(http["retries"]) if http.get("retries") is not None else None,
        fault=_fault(http["fault"]) if http.get("fault") else None,
        route=tuple(Destination(host=str(r["destination"]["host"]), subset=r["destination"].get("subset"),
                                weight=int(r.get("weight", 100 if len(routes_to) == 1 else 0)))
                    for r in routes_to),
        service=service,
    )


def _traffic(spec: Mapping[str, Any] | None) -> TrafficPolicy:
    spec = spec or {}
    od, rb, cp = spec.get("outlierDetection"), spec.get("retryBudget"), spec.get("connectionPool")
    outlier = None
    if od is not None:
        outlier = Outlier(
            consecutive_errors=int(od.get("consecutive5xxErrors", 5)),
            gateway_errors=int(od.get("consecutiveGatewayErrors", 0)),
            interval=_seconds(od.get("interval"), 10.0) or 10.0,
            base_ejection_time=_seconds(od.get("baseEjectionTime"), 30.0) or 30.0,
            max_ejection_percent=float(od.get("maxEjectionPercent", 10)),
            min_health_percent=float(od.get("minHealthPercent", 0)),
        )
    budget = None
    if rb is not None:
        budget = Budget(percent=_percent(rb.get("percent", 20.0)),
                        min_retry_concurrency=int(rb.get("minRetryConcurrency", 3)),
                        budget_interval=_seconds(rb.get("budgetInterval"), 0.0) or 0.0)
    pool = None
    if cp is not None:
        tcp, http = cp.get("tcp") or {}, cp.get("http") or {}
        pool = Pool(max_connections=tcp.get("maxConnections"), connect_timeout=_seconds(tcp.get("connectTimeout")),
                    max_pending=http.get("http1MaxPendingRequests"), max_requests=http.get("http2MaxRequests"),
                    max_requests_per_connection=http.get("maxRequestsPerConnection") or None,
                    max_retries=http.get("maxRetries"))
    simple = (spec.get("loadBalancer") or {}).get("simple")
    balancer = None if simple in (None, "UNSPECIFIED") else LEAST_REQUEST if simple == "LEAST_CONN" else str(simple)
    return TrafficPolicy(outlier=outlier, budget=budget, pool=pool, load_balancer=balancer)


def _destination(spec: Mapping[str, Any]) -> DestinationPolicy:
    subsets = {
        str(sub["name"]): Subset(labels={str(k): str(v) for k, v in (sub.get("labels") or {}).items()},
                                 traffic=_traffic(sub["trafficPolicy"]) if sub.get("trafficPolicy") else None)
        for sub in spec.get("subsets") or []
    }
    return DestinationPolicy(traffic=_traffic(spec.get("trafficPolicy")), subsets=subsets)


def _identity(spec: Mapping[str, Any], lifetime: float) -> Identity:
    rotation = spec.get("caRotation") or {}
    return Identity(cert_lifetime=_seconds(spec.get("certLifetime"), lifetime) or lifetime,
                    renew_at=float(spec.get("renewAt", 0.5)), ca_rotate_at=_seconds(rotation.get("at")),
                    trust_old_root_until=_seconds(rotation.get("trustOldRootUntil")))


def _mode(spec: Mapping[str, Any], inherited: str = PERMISSIVE) -> str:
    """UNSET inherits: Istio's "otherwise treated as PERMISSIVE", another profile's own default."""
    declared = (spec.get("mtls") or {}).get("mode", "UNSET")
    return inherited if declared == "UNSET" else str(declared)


def mesh_policy(resources: Iterable[Resource], profile: str = "istio", namespace: str = "classroom") -> MeshPolicy:
    """The policy the resources describe (they were validated when loaded)."""
    resources = list(resources)
    defaults = PROFILES[profile]
    # No PeerAuthentication: the mesh's own default (Istio's PERMISSIVE, Consul's STRICT, Traefik's none).
    mode = defaults.mtls_mode
    lifetime = defaults.identity_lifetime or CLASS_LIFETIME
    workload_modes: list[PeerMode] = []
    routes: dict[str, tuple[RouteRule, ...]] = {}
    destinations: dict[str, DestinationPolicy] = {}
    identity = Identity(cert_lifetime=lifetime)
    seal = False
    sealing: list[Sealing] = []
    for resource in resources:
        kind = resource.get("kind")
        spec = resource.get("spec") or {}
        name = str((resource.get("metadata") or {}).get("name", ""))
        if kind == "PeerAuthentication":
            labels = (spec.get("selector") or {}).get("matchLabels")
            if labels:  # a workload's own PeerAuthentication beats the class-wide one
                workload_modes.append(PeerMode(tuple(sorted((str(k), str(v)) for k, v in labels.items())),
                                               _mode(spec, defaults.mtls_mode), name))
            else:
                mode = _mode(spec, defaults.mtls_mode)
        elif kind == "VirtualService":
            rules = tuple(_rule(http, name) for http in spec.get("http") or [])
            for host in spec.get("hosts") or []:
                routes[str(host)] = rules
        elif kind == "DestinationRule" and spec.get("host"):
            destinations[str(spec["host"])] = _destination(spec)
        elif kind == "IdentityPolicy":
            identity = _identity(spec, lifetime)
        elif kind == "EnvelopePolicy":
            labels = (spec.get("selector") or {}).get("matchLabels")
            if labels:
                sealing.append(Sealing(tuple(sorted((str(k), str(v)) for k, v in labels.items())),
                                       bool(spec.get("seal")), name))
            else:
                seal = bool(spec.get("seal"))
    policies = authz.policies_from(resources, namespace)  # type: ignore[arg-type]
    if profile == "linkerd":  # Linkerd's own kinds: Servers and their authorizations, HTTPRoutes
        policies += linkerd.policies(resources, namespace)
        routes.update(linkerd.routes(resources))
    return MeshPolicy(mtls_mode=mode, workload_modes=tuple(workload_modes),
                      default_attempts=defaults.default_attempts,
                      default_retry_on=tuple(sorted(defaults.default_retry_on)), routes=routes,
                      destinations=destinations, authz=policies,
                      identity=identity, seal=seal, workload_sealing=tuple(sealing),
                      network=cilium.policies_from(resources, namespace),
                      default_balancer=defaults.balancer,
                      intentions=intentions.intentions_from(resources, namespace) if profile == "consul" else None)
