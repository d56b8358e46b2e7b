"""The form's fields: one builder per kind of resource, and the conversion of what the player enters.  No pygame.

Theory of operation
-------------------
A :class:`Field` is a view of one path in one resource (see
:mod:`classroom.game.model.configtext` for paths): its key, the heading of
its resource, its label, its kind (:data:`KINDS`: how a widget shows it), its
value and bounds.  A :class:`Slot` is a field and where it writes: the
resource's index (None for a resource not created yet, with the template to
create), the path, the prune floor, or a writer of its own where one value
sets more than one place (a toggle that adds or removes a whole part; two
weighted routes that stay at 100 together).

:class:`Form` builds the slots of the editable resources, kind by kind, in
:data:`classroom.level.RESOURCE_KINDS` order:

* PeerAuthentication: the mTLS mode;
* VirtualService: per HTTP rule, the paths and header values its matches
  compare (where it has them), timeout, retry attempts, per-try timeout,
  retry conditions, the share and status of a fault it injects, each route's
  subset (where the host has subsets) and the route weights when a rule
  splits;
* DestinationRule: outlier detection, retry budget and the circuit breaker
  (connectionPool), each a toggle, with their settings while on;
* AuthorizationPolicy: where it applies, its action, and each rule's
  principals and hosts;
* IdentityPolicy: card lifetime, renewal point, CA rotation.
* EnvelopePolicy: whether notes travel sealed end to end;
* ServiceIntentions (Consul's): its sources and their permissions
  (:mod:`classroom.game.model.consulfields`).
* CiliumNetworkPolicy: the desk it is about, and per ingress rule the desk
  allowed to hand notes over and one http rule's method and path.

Where the level has no resource of an editable kind yet, a *virtual* group
offers its fields (:meth:`Form.missing`).  :func:`convert` turns what the
player entered into the field's type or raises
:class:`~classroom.game.model.configtext.ConfigError` naming the field.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from classroom.durations import format_duration, parse_duration
from classroom.game.model.configtext import (
    ConfigError,
    PathKey,
    Resource,
    get_path,
    number_text,
    path_text,
    put_path,
)
from classroom.game.model.consulfields import intentions_slots
from classroom.level import ACTIONS, MTLS_MODES, RESOURCE_KINDS, STUDENT_LABEL, Level
from classroom.level.kinds import refused, resolve
from classroom.mesh.control.policy import DEFAULT_NOTE_TIMEOUT, DEFAULT_RETRY_ON, PROFILE_DEFAULT_ATTEMPTS

# Field kinds, and how a widget shows each.
CHOICE = "choice"  # one of ``choices`` (cycle with left/right)
TOGGLE = "toggle"  # on/off: a part of the resource is there or not
INT = "int"  # a whole number between minimum and maximum
NUMBER = "number"  # a number between minimum and maximum
DURATION = "duration"  # text like 400ms, 2s, 1m
TEXT = "text"  # free text
NAMES = "names"  # a list of names, written comma-separated
KINDS = (CHOICE, TOGGLE, INT, NUMBER, DURATION, TEXT, NAMES)
# A mesh's own kinds the form edits too, beside Istio's and the classroom's (RESOURCE_KINDS).
OWN_KINDS = ("CiliumNetworkPolicy", "ServiceIntentions")  # the form's kinds beside Istio's and the class's
_VERSIONS = {**RESOURCE_KINDS, "CiliumNetworkPolicy": ("cilium.io/v2",),
             "ServiceIntentions": ("consul.hashicorp.com/v1alpha1",)}

DEFAULT_OUTLIER: Resource = {
    "consecutive5xxErrors": 5,
    "interval": "10s",
    "baseEjectionTime": "30s",
    "maxEjectionPercent": 10,
}
DEFAULT_BUDGET: Resource = {"percent": 20, "minRetryConcurrency": 3}
DEFAULT_POOL: Resource = {"tcp": {"maxConnections": 100}}
MAX_POOL = 100_000  # connectionPool limits: Istio's own default is 2^32-1, "no limit"
MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class Field:
    """One setting of one resource, as the form shows it.

    ``value`` is ``None`` when the resource does not set it (then the mesh's
    default applies; only an ``optional`` field may be set back to ``None``).
    Durations are text as written (``"1200ms"``), names a tuple of text.
    """

    key: str  # stable across edits: "<Kind>/<name>/<path>", e.g. "VirtualService/dana/spec.http[0].timeout"
    group: str  # the resource, as a heading: "VirtualService dana (notes to dana)"
    label: str  # the setting: "retries: attempts"
    kind: str  # one of KINDS
    value: Any
    choices: tuple[str, ...] = ()
    minimum: float = 0.0
    maximum: float = 0.0
    step: float = 1.0
    optional: bool = False
    help: str = ""
    default: str = ""  # what is in force while it is not set, as the form says it ("2", "15s", "ALLOW")

    def display(self) -> str:
        """The value as text for the form; "(not set)" for none."""
        if self.value is None:
            return "(not set)"
        if self.kind == TOGGLE:
            return "on" if self.value else "off"
        if self.kind == NAMES:
            return ", ".join(self.value)
        if isinstance(self.value, float):
            return number_text(self.value)
        return str(self.value)


@dataclass
class Slot:
    """A field and where it writes: resource ``index`` (None: not created yet), path, prune floor."""

    field: Field
    index: int | None
    path: PathKey
    floor: int
    template: Resource | None = None  # the resource to create when index is None
    write: Callable[[list[Resource], int, Any], None] | None = None  # instead of a plain put


def form_builds(kind: str, profile: str) -> bool:
    """Whether the form has slots for ``kind`` in a class under ``profile`` (its Istio shape is accepted there)."""
    found = resolve(kind, _VERSIONS[kind][0]) if kind in _VERSIONS else None
    return found is not None and refused(found, profile) is None


class Form:
    """The slots of a level's editable resources, as they stand in ``resources``."""

    def __init__(self, level: Level, hosts: tuple[str, ...], resources: Sequence[Resource]) -> None:
        self.level = level
        self.hosts = hosts  # students and apps a rule may name
        self.resources = resources

    def slots(self) -> list[Slot]:
        """Every slot of the form, in order: each editable resource's, grouped by resource."""
        slots: list[Slot] = []
        builders: dict[str, Callable[[int | None, Resource], list[Slot]]] = {
            "PeerAuthentication": self._peer_authentication,
            "VirtualService": self._virtual_service,
            "DestinationRule": self._destination_rule,
            "AuthorizationPolicy": self._authorization_policy,
            "IdentityPolicy": self._identity_policy,
            "EnvelopePolicy": self._envelope_policy,
            "ServiceIntentions": lambda i, r: intentions_slots(
                self._slot, i, r, self.hosts, f"ServiceIntentions {resource_name(r)} (notes to "
                f"{get_path(r, ('spec', 'destination', 'name'))})"),
            "CiliumNetworkPolicy": self._cilium_network_policy,
        }
        for kind in (*RESOURCE_KINDS, *OWN_KINDS):
            # The form builds Istio's and the class's shapes where the mesh takes them, and the kinds of
            # OWN_KINDS; a mesh's other kinds (Linkerd's) are edited as text.
            istio_shape_refused = kind in RESOURCE_KINDS and not form_builds(kind, self.level.profile)
            if kind not in self.level.editable or istio_shape_refused:
                continue
            existing = [(i, r) for i, r in enumerate(self.resources)
                        if r.get("kind") == kind and r.get("apiVersion") in _VERSIONS[kind]]
            for index, resource in existing:
                slots += builders[kind](index, resource)
            for template in self.missing(kind, [r for _, r in existing]):
                slots += builders[kind](None, template)
        return slots

    def missing(self, kind: str, existing: list[Resource]) -> list[Resource]:
        """Resources of ``kind`` the level lacks but the form can create (first set creates them)."""
        if kind == "PeerAuthentication" and not existing:
            return [new_resource(kind, "default", {})]
        if kind == "IdentityPolicy" and not existing:
            return [new_resource(kind, "id-cards", {})]
        if kind == "EnvelopePolicy" and not existing:
            return [new_resource(kind, "default", {})]
        if kind != "DestinationRule":
            return []
        covered = {(r.get("spec") or {}).get("host") for r in existing}
        taken = {resource_name(r) for r in existing}
        hosts = dict.fromkeys(t.to for t in self.level.traffic)
        return [
            new_resource(kind, host if host not in taken else f"{host}-rules", {"host": host})
            for host in hosts
            if host not in covered
        ]

    def _peer_authentication(self, index: int | None, resource: Resource) -> list[Slot]:
        spec = resource.get("spec") or {}
        app = ((spec.get("selector") or {}).get("matchLabels") or {}).get(STUDENT_LABEL)
        who = f"for {app}" if app else "whole class"
        group = f"PeerAuthentication {resource_name(resource)} ({who})"
        mode = get_path(resource, ("spec", "mtls", "mode"))
        return [
            self._slot(
                index, resource, ("spec", "mtls", "mode"), group, "mTLS mode", CHOICE,
                choices=tuple(m for m in MTLS_MODES if m != "UNSET" or mode == "UNSET"),
                optional=mode is None,
                help="STRICT: mTLS only; PERMISSIVE: mTLS or plaintext; DISABLE: plaintext",
            )
        ]

    def _virtual_service(self, index: int | None, resource: Resource) -> list[Slot]:
        spec = resource.get("spec") or {}
        group = f"VirtualService {resource_name(resource)} (notes to {', '.join(spec.get('hosts') or [])})"
        rules = spec.get("http") or []
        slots: list[Slot] = []
        attempts = PROFILE_DEFAULT_ATTEMPTS.get(self.level.profile, 0)
        for h, rule in enumerate(rules):
            at: PathKey = ("spec", "http", h)
            prefix = f"rule {h + 1}: " if len(rules) > 1 else ""
            floor = len(at)
            slots += self._matches(index, resource, at, group, prefix)
            slots += [
                self._slot(index, resource, (*at, "timeout"), group, f"{prefix}timeout", DURATION,
                           optional=True, floor=floor, help="how long a note may take, retries included",
                           default=format_duration(DEFAULT_NOTE_TIMEOUT)),
                self._slot(index, resource, (*at, "retries", "attempts"), group, f"{prefix}retry attempts",
                           INT, minimum=0, maximum=MAX_ATTEMPTS, optional=True, floor=floor,
                           help=f"not set: {attempts}, the {self.level.profile} default",
                           default=str(attempts)),
                self._slot(index, resource, (*at, "retries", "perTryTimeout"), group,
                           f"{prefix}per-try timeout", DURATION, optional=True, floor=floor,
                           help="give up on one try after this long", default="the whole timeout"),
                self._slot(index, resource, (*at, "retries", "retryOn"), group, f"{prefix}retry on",
                           TEXT, optional=True, floor=floor,
                           help="comma-separated: 5xx, reset, connect-failure, gateway-error ...",
                           default=", ".join(sorted(DEFAULT_RETRY_ON))),
            ]
            slots += self._fault(index, resource, at, group, prefix)
            routes = rule.get("route") or []
            for j, route in enumerate(routes):
                destination = route.get("destination") or {}
                subsets = self._subsets(str(destination.get("host")))
                if subsets or destination.get("subset"):
                    current = destination.get("subset")
                    choices = (*subsets, *(() if current in subsets or current is None else (str(current),)))
                    slots.append(self._slot(
                        index, resource, (*at, "route", j, "destination", "subset"), group,
                        f"{prefix}route to: {destination.get('host')} subset", CHOICE, choices=choices,
                        optional=True, floor=floor + 3,
                        help="a subset of the DestinationRule; not set: any of the host's students"))
            if len(routes) > 1:
                for j, route in enumerate(routes):
                    destination = route.get("destination") or {}
                    parts = (destination.get("host"), destination.get("subset"))
                    target = " ".join(str(p) for p in parts if p)
                    slot = self._slot(index, resource, (*at, "route", j, "weight"), group,
                                      f"{prefix}weight: {target} %", INT, minimum=0, maximum=100, step=5,
                                      floor=floor, help="the weights of a rule's routes add up to 100")
                    if len(routes) == 2:
                        slot.write = _pair_weight(at, j)
                    slots.append(slot)
        return slots

    def _matches(self, index: int | None, resource: Resource, at: PathKey, group: str,
                 prefix: str) -> list[Slot]:
        """What a rule's matches compare: the path and each header's value (the form keeps their kinds)."""
        slots: list[Slot] = []
        matches = get_path(resource, (*at, "match")) or []
        for m, match in enumerate(matches):
            which = f"match {m + 1}" if len(matches) > 1 else "match"
            for kind in ("exact", "prefix"):
                if kind in (match.get("uri") or {}):
                    slots.append(self._slot(index, resource, (*at, "match", m, "uri", kind), group,
                                            f"{prefix}{which}: path ({kind})", TEXT,
                                            help="the note's path, as its sender wrote it: /note, /drill ..."))
            for name, value in (match.get("headers") or {}).items():
                for kind in ("exact", "prefix"):
                    if kind in (value or {}):
                        slots.append(self._slot(index, resource, (*at, "match", m, "headers", name, kind), group,
                                                f"{prefix}{which}: header {name} ({kind})", TEXT,
                                                help="compared as written: capitals count"))
        return slots

    def _fault(self, index: int | None, resource: Resource, at: PathKey, group: str, prefix: str) -> list[Slot]:
        """The share of notes a rule's fault touches, and the abort's status (where the rule has them)."""
        slots: list[Slot] = []
        for kind in ("abort", "delay"):
            if get_path(resource, (*at, "fault", kind)) is None:
                continue
            slots.append(self._slot(index, resource, (*at, "fault", kind, "percentage", "value"), group,
                                    f"{prefix}fault: {kind} %", NUMBER, minimum=0, maximum=100, step=5,
                                    optional=True, floor=len(at) + 2,
                                    help="the share of the rule's notes it touches; not set: none"))
        if get_path(resource, (*at, "fault", "abort")) is not None:
            slots.append(self._slot(index, resource, (*at, "fault", "abort", "httpStatus"), group,
                                    f"{prefix}fault: abort status", INT, minimum=200, maximum=599,
                                    help="the status the aborted notes fail with"))
        if get_path(resource, (*at, "fault", "delay")) is not None:
            slots.append(self._slot(index, resource, (*at, "fault", "delay", "fixedDelay"), group,
                                    f"{prefix}fault: delay", DURATION, help="how long a delayed note waits"))
        return slots

    def _subsets(self, host: str) -> tuple[str, ...]:
        """The subsets the level's DestinationRules give ``host`` (editable or not), in their order."""
        names: list[str] = []
        for resource in self.resources:
            spec = resource.get("spec") or {}
            if resource.get("kind") == "DestinationRule" and spec.get("host") == host:
                names += [str(s.get("name")) for s in spec.get("subsets") or [] if s.get("name") not in names]
        return tuple(names)

    def _destination_rule(self, index: int | None, resource: Resource) -> list[Slot]:
        spec = resource.get("spec") or {}
        group = f"DestinationRule {resource_name(resource)} (notes to {spec.get('host')})"
        policy: PathKey = ("spec", "trafficPolicy")
        outlier = (*policy, "outlierDetection")
        budget = (*policy, "retryBudget")
        slots = [self._toggle(index, resource, outlier, group, "outlier detection", DEFAULT_OUTLIER,
                              "eject a classmate who fails notes again and again")]
        if get_path(resource, outlier) is not None:
            slots += [
                self._slot(index, resource, (*outlier, "consecutive5xxErrors"), group,
                           "eject after (fails)", INT, minimum=0, maximum=20, optional=True, floor=3,
                           help="failures in a row that get a classmate ejected",
                           default=str(DEFAULT_OUTLIER["consecutive5xxErrors"])),
                self._slot(index, resource, (*outlier, "interval"), group, "check every",
                           DURATION, optional=True, floor=3, default=str(DEFAULT_OUTLIER["interval"])),
                self._slot(index, resource, (*outlier, "baseEjectionTime"), group, "eject for",
                           DURATION, optional=True, floor=3, default=str(DEFAULT_OUTLIER["baseEjectionTime"])),
                self._slot(index, resource, (*outlier, "maxEjectionPercent"), group,
                           "max ejected %", INT, minimum=0, maximum=100, step=5,
                           optional=True, floor=3, help="the share of the class that may be ejected at once",
                           default=str(DEFAULT_OUTLIER["maxEjectionPercent"])),
            ]
        slots.append(self._toggle(index, resource, budget, group, "retry budget", DEFAULT_BUDGET,
                                  "retries may add at most this share of notes: no retry storms"))
        if get_path(resource, budget) is not None:
            wrapped = isinstance(get_path(resource, (*budget, "percent")), dict)
            percent = (*budget, "percent", "value") if wrapped else (*budget, "percent")
            slots += [
                self._slot(index, resource, percent, group, "budget %", NUMBER,
                           minimum=0, maximum=100, step=5, optional=True, floor=3),
                self._slot(index, resource, (*budget, "minRetryConcurrency"), group,
                           "min retries", INT, minimum=0, maximum=MAX_ATTEMPTS, optional=True,
                           floor=3, help="retries always allowed at once, whatever the budget"),
            ]
        pool = (*policy, "connectionPool")
        slots.append(self._toggle(index, resource, pool, group, "circuit breaker", DEFAULT_POOL,
                                  "at most so many notes to the host at once; the rest wait in a line, or fail (UO)"))
        if get_path(resource, pool) is not None:
            slots += [
                self._slot(index, resource, (*pool, "tcp", "maxConnections"), group, "notes at once", INT,
                           minimum=1, maximum=MAX_POOL, optional=True, floor=3,
                           help="tcp.maxConnections: a note to a connection, as HTTP/1.1 carries them"),
                self._slot(index, resource, (*pool, "http", "http1MaxPendingRequests"), group,
                           "notes waiting", INT, minimum=1, maximum=MAX_POOL, optional=True, floor=3,
                           help="the line for a place; a note that finds it full fails at once (UO)"),
                self._slot(index, resource, (*pool, "http", "maxRequestsPerConnection"), group,
                           "notes per connection", INT, minimum=1, maximum=MAX_POOL, optional=True,
                           floor=3, help="then the connection is dialed anew; not set: no limit"),
            ]
        return slots

    def _authorization_policy(self, index: int | None, resource: Resource) -> list[Slot]:
        group = f"AuthorizationPolicy {resource_name(resource)}"
        principal = f"like classroom.local/ns/{self.level.name}/sa/gus"
        slots = [
            self._slot(index, resource, ("spec", "selector", "matchLabels", STUDENT_LABEL), group,
                       "applies at", CHOICE, choices=self.hosts, optional=True, floor=1,
                       help="the student whose proxy enforces it; not set: every student", default="every student"),
            self._slot(index, resource, ("spec", "action"), group, "action", CHOICE, choices=ACTIONS,
                       optional=True, help="not set: ALLOW", default="ALLOW"),
        ]
        for r, _rule in enumerate(get_path(resource, ("spec", "rules")) or []):
            at: PathKey = ("spec", "rules", r)
            slots += [
                self._slot(index, resource, (*at, "from", 0, "source", "principals"), group,
                           f"rule {r + 1}: from", NAMES, optional=True, floor=len(at), help=principal),
                self._slot(index, resource, (*at, "to", 0, "operation", "hosts"), group,
                           f"rule {r + 1}: notes to", NAMES, optional=True, floor=len(at),
                           help="students or services the notes are for"),
            ]
        return slots

    def _cilium_network_policy(self, index: int | None, resource: Resource) -> list[Slot]:
        group = f"CiliumNetworkPolicy {resource_name(resource)}"
        slots = [self._slot(index, resource, ("spec", "endpointSelector", "matchLabels", STUDENT_LABEL), group,
                            "desks it is about", CHOICE, choices=self.hosts, optional=True, floor=2,
                            help="the desk whose ingress it rules; not set: every desk", default="every desk")]
        for r, _rule in enumerate(get_path(resource, ("spec", "ingress")) or []):
            at: PathKey = ("spec", "ingress", r)
            http: PathKey = (*at, "toPorts", 0, "rules", "http", 0)
            slots += [
                self._slot(index, resource, (*at, "fromEndpoints", 0, "matchLabels", STUDENT_LABEL), group,
                           f"ingress {r + 1}: from the desk of", CHOICE, choices=self.hosts, optional=True,
                           floor=len(at), help="the neighbour who hands the note over (not its author)"),
                self._slot(index, resource, (*http, "method"), group, f"ingress {r + 1}: http method", TEXT,
                           optional=True, floor=len(at), help="a regular expression, like GET; not set: any"),
                self._slot(index, resource, (*http, "path"), group, f"ingress {r + 1}: http path", TEXT,
                           optional=True, floor=len(at), help="a regular expression, like /homework; not set: any"),
            ]
        return slots

    def _identity_policy(self, index: int | None, resource: Resource) -> list[Slot]:
        group = f"IdentityPolicy {resource_name(resource)} (ID cards)"
        rotation: PathKey = ("spec", "caRotation")
        return [
            self._slot(index, resource, ("spec", "certLifetime"), group, "card lifetime", DURATION,
                       optional=True),
            self._slot(index, resource, ("spec", "renewAt"), group, "renew at (of life)", NUMBER,
                       minimum=0.05, maximum=2.0, step=0.05, optional=True,
                       help="0.5: ask for a new card half-way through its life; 1 or more: too late"),
            self._slot(index, resource, (*rotation, "at"), group, "new class CA at", DURATION,
                       optional=True),
            self._slot(index, resource, (*rotation, "trustOldRootUntil"), group, "trust old CA until",
                       DURATION, optional=True),
        ]

    def _envelope_policy(self, index: int | None, resource: Resource) -> list[Slot]:
        group = f"EnvelopePolicy {resource_name(resource)} (sealed envelopes)"
        slot = self._slot(index, resource, ("spec", "seal"), group, "seal every note", TOGGLE,
                          help="on: sealed to the recipient and signed; the hands on the way carry it unread")
        slot.field = replace(slot.field, value=bool(get_path(resource, ("spec", "seal"))), optional=False)
        return [slot]

    def _slot(
        self,
        index: int | None,
        resource: Resource,
        path: PathKey,
        group: str,
        label: str,
        kind: str,
        *,
        choices: tuple[str, ...] = (),
        minimum: float = 0.0,
        maximum: float = 0.0,
        step: float = 1.0,
        optional: bool = False,
        floor: int = 1,
        help: str = "",
        default: str = "",
    ) -> Slot:
        value = get_path(resource, path)
        if kind == NAMES and value is not None:
            value = tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)
        field = Field(
            key=f"{resource.get('kind')}/{resource_name(resource)}/{path_text(path)}",
            group=group,
            label=label,
            kind=kind,
            value=value,
            choices=choices,
            minimum=minimum,
            maximum=maximum,
            step=step,
            optional=optional or value is None,
            help=help,
            default=default,
        )
        return Slot(field, index, path, floor, resource if index is None else None)

    def _toggle(
        self, index: int | None, resource: Resource, path: PathKey, group: str, label: str, default: Resource,
        help: str,
    ) -> Slot:
        slot = self._slot(index, resource, path, group, label, TOGGLE, help=help)
        present = get_path(resource, path)
        slot.field = replace(slot.field, value=present is not None, optional=False)

        def write(candidate: list[Resource], at: int, on: Any) -> None:
            if on and present is None:
                put_path(candidate[at], path, copy.deepcopy(default), 1)
            elif not on:
                put_path(candidate[at], path, None, 1)

        slot.write = write
        return slot


# --------------------------------------------------------------------------- helpers


def resource_name(resource: Resource) -> str:
    return str((resource.get("metadata") or {}).get("name", ""))


def new_resource(kind: str, name: str, spec: Resource) -> Resource:
    return {"apiVersion": _VERSIONS[kind][0], "kind": kind, "metadata": {"name": name}, "spec": spec}


def is_bare(resource: Resource) -> bool:
    """A resource that says nothing: no spec, or a DestinationRule's spec with only its host."""
    spec = resource.get("spec") or {}
    return not spec or (resource.get("kind") == "DestinationRule" and set(spec) == {"host"})


def _pair_weight(rule: PathKey, j: int) -> Callable[[list[Resource], int, Any], None]:
    """Set route ``j``'s weight and the other route's to the rest of 100."""

    def write(candidate: list[Resource], at: int, weight: Any) -> None:
        put_path(candidate[at], (*rule, "route", j, "weight"), weight, len(rule))
        put_path(candidate[at], (*rule, "route", 1 - j, "weight"), 100 - int(weight), len(rule))

    return write


def convert(field: Field, value: Any) -> Any:
    """``value`` as the field's type, or :class:`ConfigError` naming the field."""
    where = f"{field.label}"
    if isinstance(value, str) and field.kind not in (TEXT,):
        value = value.strip()
    if value is None or value == "" or value == ():
        if field.kind == TOGGLE:
            return False
        if not field.optional:
            raise ConfigError(0, f"{where} needs a value", field.key)
        return None
    if field.kind == TOGGLE:
        if not isinstance(value, bool):
            raise ConfigError(0, f"{where} is on or off", field.key)
        return value
    if field.kind == CHOICE:
        if value not in field.choices:
            raise ConfigError(0, f"{where} must be one of {', '.join(field.choices)}", field.key)
        return value
    if field.kind in (INT, NUMBER):
        return _convert_number(field, value)
    if field.kind == DURATION:
        try:
            parse_duration(value)
        except ValueError as exc:
            raise ConfigError(0, f"{where}: {exc}", field.key) from None
        return value if isinstance(value, str) else format_duration(float(value))
    if field.kind == NAMES:
        parts = value.split(",") if isinstance(value, str) else [str(v) for v in value]
        names = [p.strip() for p in parts if p.strip()]
        if not names:
            return convert(field, None)
        return names
    return str(value)


def _convert_number(field: Field, value: Any) -> int | float:
    wanted = "a whole number" if field.kind == INT else "a number"
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or number != number:
        raise ConfigError(0, f"{field.label} must be {wanted}, got {value!r}", field.key)
    if field.kind == INT and not number.is_integer():
        raise ConfigError(0, f"{field.label} must be a whole number, got {number_text(number)}", field.key)
    if not field.minimum <= number <= field.maximum:
        raise ConfigError(
            0,
            f"{field.label} must be between {number_text(field.minimum)} and "
            f"{number_text(field.maximum)}, got {number_text(number)}",
            field.key,
        )
    return int(number) if number.is_integer() else round(number, 6)
