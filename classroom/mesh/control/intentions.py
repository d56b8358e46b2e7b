"""Consul's intentions, evaluated: may this source service hand a note to that destination service?

Theory of operation
-------------------
Each ServiceIntentions resource is one ``service-intentions`` config entry:
a destination and, per source, one intention (:class:`Intention`).  Consul's
rules (developer.hashicorp.com/consul/docs/connect/intentions, "Precedence
and match order"; consul-k8s ``serviceintentions_types.go``):

* **Only one intention controls a given source and destination pair**: the
  matching intention of highest precedence.  Without namespaces the
  precedence is 9 (exact source, exact destination), 8 (``*`` source, exact
  destination), 6 (exact source, ``*`` destination), 5 (``*`` to ``*``):
  exact beats wildcard, and the order sources are written in does not matter.
* An L4 intention (``action``) allows or denies the whole pair.  An L7 one
  (``permissions``) is read top to bottom, the first permission that matches
  the request decides; a request no permission matches gets **the default**,
  not a lower intention ("traffic that fails to match any of the provided
  permissions in this intention will be subject to the default intention
  behavior").
* No intention for the pair: **the default**, from the ACL default policy
  (``acl.default_policy``; the class's ConsulACL, see
  :mod:`classroom.level.consul`): allow when ACLs are off or the policy is
  allow, deny when it is deny.

A hand enforces the intentions whose destination is its own service (her
``app`` label, her name unless the level gives another), on the neighbour who
hands a note over, known by the service of the ID card she proved (Consul's
sidecar reads the source service from the client certificate).  A
neighbour with no ID card has no service: denied, as Consul's sidecars refuse
plaintext.  Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from classroom.mesh.control.authz import Decision
from classroom.mesh.control.request import Operation

ALLOW, DENY, WILDCARD = "allow", "deny", "*"


@dataclass(frozen=True)
class HeaderMatch:
    name: str
    present: bool = False
    exact: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    regex: str | None = None
    invert: bool = False

    def matches(self, op: Operation) -> bool:
        value = op.header(self.name)
        if value is None:
            found = False
        elif self.present:
            found = True
        elif self.exact is not None:
            found = value == self.exact
        elif self.prefix is not None:
            found = value.startswith(self.prefix)
        elif self.suffix is not None:
            found = value.endswith(self.suffix)
        else:
            found = self.regex is not None and re.fullmatch(self.regex, value) is not None
        return found != self.invert


@dataclass(frozen=True)
class Permission:
    action: str
    path_exact: str | None = None
    path_prefix: str | None = None
    path_regex: str | None = None
    methods: tuple[str, ...] | None = None
    headers: tuple[HeaderMatch, ...] = ()

    def matches(self, op: Operation) -> bool:
        """Every part written matches (Envoy's regex matches the whole path)."""
        uri = op.uri
        if self.path_exact is not None and uri != self.path_exact:
            return False
        if self.path_prefix is not None and not uri.startswith(self.path_prefix):
            return False
        if self.path_regex is not None and re.fullmatch(self.path_regex, uri) is None:
            return False
        if self.methods is not None and op.method not in self.methods:
            return False
        return all(h.matches(op) for h in self.headers) if self.headers else True


@dataclass(frozen=True)
class Intention:
    entry: str  # the ServiceIntentions resource it is written in (namespace/name)
    source: str  # a service, or *
    destination: str  # a service, or *
    action: str | None = None  # an L4 intention's; None: an L7 one (permissions)
    permissions: tuple[Permission, ...] = ()

    @property
    def precedence(self) -> int:
        """Consul's precedence without namespaces: 9, 8, 6, 5 (exact beats wildcard, destination first)."""
        exact_source, exact_destination = self.source != WILDCARD, self.destination != WILDCARD
        return {(True, True): 9, (False, True): 8, (True, False): 6, (False, False): 5}[
            (exact_source, exact_destination)]

    def fits(self, source: str, destination: str) -> bool:
        return (self.source in (WILDCARD, source)) and (self.destination in (WILDCARD, destination))

    @property
    def written(self) -> str:
        """As ``consul intention`` prints one: ``web => db``."""
        return f"{self.source} => {self.destination}"


@dataclass(frozen=True)
class Intentions:
    default_allow: bool = True  # no intention for a pair: allow (ACLs off, or default_policy allow)
    entries: tuple[Intention, ...] = ()

    @property
    def default_words(self) -> str:
        return f"default_policy {ALLOW if self.default_allow else DENY}"

    def __post_init__(self) -> None:
        # Asked at a hand for every note: each pair's answer is worked out once (not a field: not sent).
        object.__setattr__(self, "_controlling", {})
        object.__setattr__(self, "_decisions", {})

    def controlling(self, source: str, destination: str) -> Intention | None:
        """The one intention that controls the pair (highest precedence), or None."""
        known: dict[tuple[str, str], Intention | None] = self._controlling  # type: ignore[attr-defined]
        key = (source, destination)
        if key not in known:
            fitting = [i for i in self.entries if i.fits(source, destination)]
            known[key] = max(fitting, key=lambda i: i.precedence, default=None)
        return known[key]

    def decide(self, source: str | None, destination: str, op: Operation) -> Decision:
        """May service ``source`` (None: no ID card) hand service ``destination`` this note?"""
        if source is None:
            return Decision(False, None, "no ID card: intentions name the source service its certificate proves")
        intention = self.controlling(source, destination)
        if intention is None or intention.action is not None:
            return self._decision(source, destination, intention, None)
        for index, permission in enumerate(intention.permissions):
            if permission.matches(op):
                return self._decision(source, destination, intention, index)
        return Decision(self.default_allow, intention.entry,
                        f"intention {intention.written}: no permission matches {op.method} {op.uri}, "
                        f"so the default applies ({self.default_words})")

    def _decision(self, source: str, destination: str, intention: Intention | None, index: int | None) -> Decision:
        """The answer for a pair (and the permission that matched), made once: the same every time."""
        known: dict[tuple[str, str, int | None], Decision] = self._decisions  # type: ignore[attr-defined]
        key = (source, destination, index)
        found = known.get(key)
        if found is None:
            if intention is None:
                found = Decision(self.default_allow, None,
                                 f"no intention {source} => {destination}: {self.default_words}")
            elif index is None:
                found = Decision(intention.action == ALLOW, intention.entry,
                                 f"intention {intention.written} ({intention.action})")
            else:
                action = intention.permissions[index].action
                found = Decision(action == ALLOW, intention.entry,
                                 f"intention {intention.written}, permissions[{index}] ({action})")
            known[key] = found
        return found


def _strings(value: Any) -> tuple[str, ...] | None:
    return tuple(str(x) for x in value) if value is not None else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _permission(spec: Mapping[str, Any]) -> Permission:
    http = spec.get("http") or {}
    headers = tuple(
        HeaderMatch(name=str(h["name"]), present=bool(h.get("present")), exact=_text(h.get("exact")),
                    prefix=_text(h.get("prefix")), suffix=_text(h.get("suffix")), regex=_text(h.get("regex")),
                    invert=bool(h.get("invert")))
        for h in http.get("header") or []
    )
    return Permission(action=str(spec["action"]), path_exact=_text(http.get("pathExact")),
                      path_prefix=_text(http.get("pathPrefix")), path_regex=_text(http.get("pathRegex")),
                      methods=_strings(http.get("methods")), headers=headers)


def intentions_from(resources: Iterable[Mapping[str, Any]], namespace: str) -> Intentions | None:
    """The class's intentions and default from (validated) resources; None when they decide nothing
    (no ServiceIntentions and a default of allow: every pair allowed)."""
    default_allow = True
    entries: list[Intention] = []
    for resource in resources:
        spec = resource.get("spec") or {}
        if resource.get("kind") == "ConsulACL":
            # ACLs off: Consul's authorizer allows everything; on, default_policy (default "allow") decides.
            default_allow = not spec.get("enabled", False) or spec.get("defaultPolicy", ALLOW) == ALLOW
        elif resource.get("kind") == "ServiceIntentions":
            entry = f"{namespace}/{(resource.get('metadata') or {}).get('name', 'unnamed')}"
            destination = str((spec.get("destination") or {}).get("name"))
            for source in spec.get("sources") or []:
                entries.append(Intention(
                    entry=entry, source=str(source["name"]), destination=destination,
                    action=_text(source.get("action")),
                    permissions=tuple(_permission(p) for p in source.get("permissions") or [])))
    if default_allow and not entries:
        return None
    return Intentions(default_allow=default_allow, entries=tuple(entries))
