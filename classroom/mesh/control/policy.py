"""The class rules as the proxies use them: one MeshPolicy, compiled from the level's resources.

Theory of operation
-------------------
A level (or the player's ``--config``) gives resources in Istio's shapes; the
office compiles them (:func:`classroom.mesh.control.compile.mesh_policy`) into
one :class:`MeshPolicy`, plain frozen data, and pushes it to every proxy as
JSON (:mod:`classroom.mesh.control.jsonable`), as istiod turns CRDs into each
proxy's configuration.  The questions a hand asks of it, per note:

* :meth:`MeshPolicy.rule` — which ``http`` rule of the note's host's
  VirtualService takes the note (first match wins, as in Istio; no match is
  ``NR``); without a VirtualService, the profile's default rule;
* :meth:`MeshPolicy.traffic` — what the DestinationRule says for traffic to
  the note's host and subset (the subset's ``trafficPolicy`` overrides the
  host's, field by field);
* :meth:`MeshPolicy.mode_for` — the mTLS mode a student's hand lives by (a
  PeerAuthentication with a selector beats the class-wide one).

Where a resource says nothing, the profile's defaults apply, as in the real
meshes (:mod:`classroom.mesh.control.profiles`): Istio retries twice on
``connect-failure,refused-stream,unavailable,cancelled`` (the hidden default
retries of istio/istio#20547), App Mesh twice on ``503,connect-failure,
refused-stream``; Consul's class-wide mTLS is STRICT, Traefik Mesh's none.  All times are
room seconds.  Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from classroom.mesh.control import authz, jsonable
from classroom.mesh.control.profiles import PROFILES
from classroom.mesh.control.request import DEFAULT_OPERATION, Operation

STRICT, PERMISSIVE, DISABLE = "STRICT", "PERMISSIVE", "DISABLE"
# Istio's default retryOn when a VirtualService sets no retries (MeshConfig defaultHttpRetryPolicy).
DEFAULT_RETRY_ON = frozenset({"connect-failure", "refused-stream", "unavailable", "cancelled"})
# A note's lifetime when no VirtualService sets a timeout (Istio's default is no timeout at all).
DEFAULT_NOTE_TIMEOUT = 15.0
BACKOFF_BASE = 0.025  # Envoy's default retry backoff base interval
# The retries a route gets with no VirtualService, per profile (the table: classroom.mesh.control.profiles).
PROFILE_DEFAULT_ATTEMPTS = {name: p.default_attempts for name, p in PROFILES.items()}
ROUND_ROBIN, LEAST_REQUEST, RANDOM = "ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"
PEAK_EWMA = "PEAK_EWMA"  # Linkerd's balancer (no DestinationRule names it: only a profile's default)


@dataclass(frozen=True)
class StringMatch:
    """Istio's StringMatch: one of exact, prefix or regex (RE2 in Istio; Python's re here)."""

    kind: str  # "exact" | "prefix" | "regex"
    value: str

    def matches(self, text: str | None, ignore_case: bool = False) -> bool:
        if text is None:
            return False
        value = self.value
        if ignore_case and self.kind != "regex":  # Envoy's ignore_case does not apply to a regex
            text, value = text.lower(), value.lower()
        if self.kind == "exact":
            return text == value
        if self.kind == "prefix":
            return text.startswith(value)
        return re.fullmatch(value, text) is not None


@dataclass(frozen=True)
class HttpMatch:
    """One ``match`` entry of an http rule: every condition written must hold."""

    uri: StringMatch | None = None
    method: StringMatch | None = None
    headers: tuple[tuple[str, StringMatch], ...] = ()
    without_headers: tuple[tuple[str, StringMatch | None], ...] = ()
    ignore_uri_case: bool = False

    def matches(self, op: Operation) -> bool:
        if self.uri is not None and not self.uri.matches(op.uri, self.ignore_uri_case):
            return False
        if self.method is not None and not self.method.matches(op.method):
            return False
        if not all(m.matches(op.header(name)) for name, m in self.headers):
            return False
        for name, m in self.without_headers:
            present = op.header(name)
            if present is not None and (m is None or m.matches(present)):
                return False
        return True


@dataclass(frozen=True)
class Retries:
    attempts: int = 2
    per_try_timeout: float | None = None
    retry_on: tuple[str, ...] = tuple(sorted(DEFAULT_RETRY_ON))
    backoff: float = BACKOFF_BASE  # the base interval of the jittered exponential backoff
    ignore_previous_hosts: bool = True  # a retry prefers a next hop not tried yet (Istio 1.26+)


@dataclass(frozen=True)
class Fault:
    delay_percent: float = 0.0
    delay: float = 0.0
    abort_percent: float = 0.0
    abort_status: int = 503


@dataclass(frozen=True)
class Destination:
    """One weighted route of an http rule: a host, maybe a subset of it."""

    host: str
    subset: str | None = None
    weight: int = 100


@dataclass(frozen=True)
class RouteRule:
    """One ``http`` rule of a VirtualService: the notes it takes and what they meet."""

    name: str = ""
    matches: tuple[HttpMatch, ...] = ()  # any of them (none: every note)
    timeout: float | None = None
    retries: Retries | None = None
    fault: Fault | None = None
    route: tuple[Destination, ...] = ()
    service: str = ""  # the VirtualService it comes from ("" for the profile's default)

    def takes(self, op: Operation) -> bool:
        return not self.matches or any(m.matches(op) for m in self.matches)


@dataclass(frozen=True)
class Outlier:
    consecutive_errors: int = 5  # consecutive5xxErrors (0 disables)
    gateway_errors: int = 0  # consecutiveGatewayErrors: 502, 503, 504 only (0 disables)
    interval: float = 10.0  # between two sweeps that return ejected hosts whose time is up
    base_ejection_time: float = 30.0
    max_ejection_percent: float = 10.0
    min_health_percent: float = 0.0  # below this share of healthy hosts, ejections are ignored (panic)


@dataclass(frozen=True)
class Budget:
    percent: float = 20.0
    min_retry_concurrency: int = 3
    budget_interval: float = 0.0  # 0: only requests active now count


@dataclass(frozen=True)
class Pool:
    """connectionPool: Istio's circuit breaker (defaults: 2^32-1, effectively off)."""

    max_connections: int | None = None  # tcp.maxConnections: notes in flight at once (one per connection)
    connect_timeout: float | None = None  # tcp.connectTimeout: how long a try waits for a link to come up
    max_pending: int | None = None  # http.http1MaxPendingRequests: notes waiting for a connection
    max_requests: int | None = None  # http.http2MaxRequests: notes active at once
    max_requests_per_connection: int | None = None  # a link carries this many notes, then is dialed anew
    max_retries: int | None = None  # http.maxRetries: retries outstanding at once

    @property
    def limit(self) -> int | None:
        """Notes that may be in flight at once, or None."""
        caps = [c for c in (self.max_connections, self.max_requests) if c is not None]
        return min(caps) if caps else None


@dataclass(frozen=True)
class TrafficPolicy:
    """What a DestinationRule says about traffic to one host (or one of its subsets)."""

    outlier: Outlier | None = None
    budget: Budget | None = None
    pool: Pool | None = None
    load_balancer: str | None = None  # ROUND_ROBIN | LEAST_REQUEST | RANDOM; None: Istio's default

    def over(self, base: TrafficPolicy) -> TrafficPolicy:
        """This subset's policy over its host's: each field given here replaces the host's."""
        return TrafficPolicy(outlier=self.outlier or base.outlier, budget=self.budget or base.budget,
                             pool=self.pool or base.pool, load_balancer=self.load_balancer or base.load_balancer)


@dataclass(frozen=True)
class Subset:
    labels: dict[str, str] = field(default_factory=dict)
    traffic: TrafficPolicy | None = None


@dataclass(frozen=True)
class DestinationPolicy:
    """What a DestinationRule says about one host: its traffic policy and its subsets."""

    traffic: TrafficPolicy = field(default_factory=TrafficPolicy)
    subsets: dict[str, Subset] = field(default_factory=dict)


@dataclass(frozen=True)
class PeerMode:
    """A PeerAuthentication with a selector: the mode of the students whose labels it fits."""

    match_labels: tuple[tuple[str, str], ...]
    mode: str
    name: str = ""

    def fits(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels)


@dataclass(frozen=True)
class Sealing:
    """An EnvelopePolicy with a selector: whether the notes of the students it fits travel sealed."""

    match_labels: tuple[tuple[str, str], ...]
    seal: bool
    name: str = ""

    def fits(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels)


@dataclass(frozen=True)
class Identity:
    """How the office hands out ID cards (room seconds)."""

    cert_lifetime: float = 3600.0
    renew_at: float = 0.5  # share of a card's life after which its proxy asks for a new one
    ca_rotate_at: float | None = None  # a new class CA from then on, trusted beside the old one
    trust_old_root_until: float | None = None  # when the old root leaves the trust bundle


DEFAULT_TRAFFIC = TrafficPolicy()
NO_DESTINATION_POLICY = DestinationPolicy()


@dataclass(frozen=True)
class MeshPolicy:
    mtls_mode: str = PERMISSIVE  # the class-wide mode (an unset PeerAuthentication is treated as PERMISSIVE)
    workload_modes: tuple[PeerMode, ...] = ()  # PeerAuthentications with a selector, in order
    default_attempts: int = 2
    default_retry_on: tuple[str, ...] = tuple(sorted(DEFAULT_RETRY_ON))  # the profile's, with default_attempts
    routes: dict[str, tuple[RouteRule, ...]] = field(default_factory=dict)  # host -> its VirtualService's rules
    destinations: dict[str, DestinationPolicy] = field(default_factory=dict)
    authz: tuple[authz.Policy, ...] = ()
    identity: Identity = field(default_factory=Identity)
    seal: bool = False  # the class's EnvelopePolicy: notes sealed end to end (none: not sealed)
    workload_sealing: tuple[Sealing, ...] = ()  # EnvelopePolicies with a selector, in order
    default_balancer: str = LEAST_REQUEST  # the profile's, where no DestinationRule names one

    def __post_init__(self) -> None:
        # Asked for at every hand for every note: the defaults are made once, not per call.
        object.__setattr__(self, "_default_rule", RouteRule(retries=Retries(
            attempts=self.default_attempts, retry_on=self.default_retry_on or Retries().retry_on)))
        object.__setattr__(self, "_traffic", {})

    # --- per note -------------------------------------------------------------------------------
    def rule(self, host: str, op: Operation | None = None) -> RouteRule | None:
        """The http rule that takes a note to ``host`` (first match wins); None: the host has a
        VirtualService but none of its rules takes the note (``NR``)."""
        rules = self.routes.get(host) or self.routes.get("*")
        if rules is None:
            return self._default_rule  # type: ignore[attr-defined]
        op = op or DEFAULT_OPERATION
        for rule in rules:
            if rule.takes(op):
                return rule
        return None

    def retries(self, rule: RouteRule | None) -> Retries:
        """The retries of a rule: its own, or the profile's default; none where the rule injects faults
        ("timeouts or retries will not be enabled when faults are enabled", Istio's HTTPFaultInjection)."""
        if rule is None or rule.fault is not None:
            return NO_RETRIES
        return rule.retries if rule.retries is not None else self._default_rule.retries  # type: ignore[attr-defined]

    def note_timeout(self, rule: RouteRule | None) -> float:
        timeout = rule.timeout if rule is not None and rule.fault is None else None
        return timeout if timeout is not None else DEFAULT_NOTE_TIMEOUT

    def destination(self, host: str) -> DestinationPolicy:
        return self.destinations.get(host) or self.destinations.get("*") or NO_DESTINATION_POLICY

    def traffic(self, host: str, subset: str | None = None) -> TrafficPolicy:
        """The traffic policy for notes to ``host`` (and ``subset``, whose own policy overrides)."""
        cache: dict[tuple[str, str | None], TrafficPolicy] = self._traffic  # type: ignore[attr-defined]
        key = (host, subset)
        found = cache.get(key)
        if found is None:
            destination = self.destination(host)
            found = destination.traffic
            own = destination.subsets.get(subset) if subset is not None else None
            if own is not None and own.traffic is not None:
                found = own.traffic.over(found)
            cache[key] = found
        return found

    def mode_for(self, labels: Mapping[str, str]) -> str:
        """A student's mTLS mode: the first PeerAuthentication whose selector fits her, else the class's."""
        for peer_mode in self.workload_modes:
            if peer_mode.fits(labels):
                return peer_mode.mode
        return self.mtls_mode

    def seals(self, labels: Mapping[str, str]) -> bool:
        """Whether a student's notes travel sealed: the first EnvelopePolicy whose selector fits her,
        else the class's."""
        for sealing in self.workload_sealing:
            if sealing.fits(labels):
                return sealing.seal
        return self.seal

    # --- what a stack needs at all -------------------------------------------------------------------
    @property
    def all_rules(self) -> tuple[RouteRule, ...]:
        return tuple(rule for rules in self.routes.values() for rule in rules)

    @property
    def all_traffic(self) -> tuple[TrafficPolicy, ...]:
        return tuple(t for d in self.destinations.values()
                     for t in (d.traffic, *(s.traffic for s in d.subsets.values() if s.traffic is not None)))

    @property
    def has_faults(self) -> bool:
        return any(r.fault is not None for r in self.all_rules)

    @property
    def has_per_try_timeouts(self) -> bool:
        return any(r.retries is not None and r.retries.per_try_timeout is not None for r in self.all_rules)

    @property
    def has_outlier_detection(self) -> bool:
        return any(t.outlier is not None for t in self.all_traffic)

    @property
    def has_pools(self) -> bool:
        return any(t.pool is not None for t in self.all_traffic)

    # --- the wire ----------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return jsonable.dump(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MeshPolicy:
        return jsonable.load(cls, data)


NO_RETRIES = Retries(attempts=0)
jsonable.prepare(MeshPolicy)  # at import: the launcher imports this before it forks
