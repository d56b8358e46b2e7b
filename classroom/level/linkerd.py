"""Linkerd's own kinds (policy.linkerd.io, Gateway API's HTTPRoute): what the class acts on, what it refuses, why.

Theory of operation
-------------------
Under ``mesh.profile: linkerd`` a class is written in Linkerd's resources, in
the shapes of Linkerd's CRDs (linkerd/linkerd2 ``charts/linkerd-crds``; the
docs' ``reference/authorization-policy.md``, ``retries.md``, ``timeouts.md``):

* ``Server`` picks students by ``podSelector.matchLabels`` and a ``port``; once
  one picks a student, every note handed to her is refused unless an
  ``AuthorizationPolicy`` allows it ("When a Server resource is present, all
  traffic to the port on its pods will be denied unless explicitly
  authorized"), or its ``accessPolicy`` (v1beta3) lets it in;
* ``AuthorizationPolicy`` (policy.linkerd.io/v1alpha1) allows the notes to a
  Server (or to every Server of the namespace) whose senders pass *all* its
  ``requiredAuthenticationRefs``;
* ``MeshTLSAuthentication`` names senders by Linkerd identity strings
  (``<sa>.<ns>.serviceaccount.identity.linkerd.cluster.local``, ``*``
  wildcards) or by ``identityRefs`` (a ServiceAccount, a Namespace);
* a ``Namespace`` (v1) carries the ``config.linkerd.io/default-inbound-policy``
  annotation: what a student no Server picks accepts;
* ``HTTPRoute`` (gateway.networking.k8s.io/v1, policy.linkerd.io/v1beta3)
  with ``parentRefs`` to a service: matches, weighted ``backendRefs``, and the
  ``retry.linkerd.io/*`` and ``timeout.linkerd.io/request`` annotations.

A student is a pod and her own service account: the class's ID card for
``ben`` in level ``lvl`` is ``spiffe://classroom.local/ns/lvl/sa/ben`` and,
in a Linkerd class, also carries Linkerd's
``ben.lvl.serviceaccount.identity.linkerd.cluster.local``; policies match one
onto the other (:mod:`classroom.mesh.control.linkerd`).  Each field is acted
on as Linkerd acts on it, or refused at its line with the reason.  Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import classroom.level.istiovalues as v
from classroom.level.checks import _At, _Check, _choices, _ListOf, _Map, _MapOf, _show, _text
from classroom.mesh.control.linkerd import (
    DEFAULT_POLICIES,
    DEFAULT_POLICY_ANNOTATION,
    IDENTITY_SUFFIX,
    LINKERD_POLICY,
    REQUEST_TIMEOUT,
    RETRY_HTTP,
    RETRY_LIMIT,
    RETRY_TIMEOUT,
    identity_parts,
    status_tokens,
)

# The one port a desk takes notes on.  A real pod names its ports in its spec; a desk has one, and the class
# calls it `notes` (its number is whatever the room picks for the round).
NOTES_PORT = "notes"
# config.linkerd.io/default-inbound-policy values (reference/authorization-policy.md); audit since 2.16.
NO_AUDIT = "the class keeps no audit log: Linkerd's audit allows every note and only logs the ones it would deny"
NO_IPS = "there are no IP addresses in class: a hand knows who handed her a note by her ID card"
NO_EXPRESSIONS = "the class picks students by matchLabels only: write the labels a student has"
NO_GRPC = "notes are not gRPC calls"
NO_HEADER_EDITS = "hands never add or remove a note's headers, redirect or mirror it: only its sender writes them"

# --------------------------------------------------------------------------- small readers


def _name(ck: _Check, value: Any, at: _At) -> str:
    return v.nonempty_text(ck, value, at)


def _group(*groups: str) -> Any:
    """A reference's ``group``: one of the groups its kind lives in ('' and 'core' are Kubernetes's own)."""

    def read(ck: _Check, value: Any, at: _At) -> str:
        written = _text(ck, value, at)
        if written not in groups:
            ck.fail(at.line, f"{at.name} must be {' or '.join(repr(g) for g in groups)}, got {written!r}")
        return written

    return read


def _port(ck: _Check, value: Any, at: _At) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        ck.fail(at.line, f"{at.name} {value}: a desk's note port has no fixed number (the room picks one each "
                f"round): name it, port: {NOTES_PORT}")
    written = _text(ck, value, at)
    if written != NOTES_PORT:
        ck.fail(at.line, f"{at.name} {written!r} is a port no desk has, so this Server would pick nothing: a desk "
                f"takes notes on one port, named {NOTES_PORT}")
    return written


def _labels() -> _Map:
    return _Map({"matchLabels": _MapOf(v.label_key, v.label_value)}, refused={"matchExpressions": NO_EXPRESSIONS})


# --------------------------------------------------------------------------- Server

_PROTOCOLS = ("unknown", "HTTP/1", "HTTP/2")
_PROTOCOLS_REFUSED = {
    "gRPC": f"{NO_GRPC}: a desk's port carries notes (requests with a path, a method and headers)",
    "opaque": "a hand reads every note it is handed to route it and check it; an opaque port would hand on bytes "
    "it cannot read",
    "TLS": "a desk's port takes the class's own notes, not TLS its student terminates herself",
}
_SERVER_FIELDS = {
    "podSelector": _labels(),
    "port": _port,
    "proxyProtocol": v.enum(*_PROTOCOLS, refused=_PROTOCOLS_REFUSED),
}
_SERVER_REFUSED = {"externalWorkloadSelector": "the class has no external workloads: every hand sits at a desk"}


def _server_check(ck: _Check, spec: dict[Any, Any], at: _At) -> None:
    if "podSelector" not in spec:
        ck.fail(at.line, f"{at.name} is missing 'podSelector' (like podSelector: {{matchLabels: {{app: penny}}}}; "
                "{} picks every student)")


SERVER_V1BETA1 = _Map(_SERVER_FIELDS, required=("port",), refused=_SERVER_REFUSED, check=_server_check)
SERVER = _Map(
    {**_SERVER_FIELDS, "accessPolicy": v.enum("deny", *DEFAULT_POLICIES[:-1], refused={"audit": NO_AUDIT})},
    required=("port",), refused=_SERVER_REFUSED, check=_server_check,
)

# --------------------------------------------------------------------------- AuthorizationPolicy

_TARGETS = ("Server", "Namespace")
_TARGETS_REFUSED = {
    "HTTPRoute": "the class's HTTPRoutes are outbound routes (parentRefs to a service), not routes of a Server: "
    "authorize the Server (every note to its students) or the Namespace",
    "GRPCRoute": NO_GRPC,
}
_TARGET_GROUPS = {"Server": (LINKERD_POLICY,), "Namespace": ("", "core")}


def _ref_check(groups: Mapping[str, tuple[str, ...]], *, name_required: bool = True,
               default_kind: str | None = None) -> Any:
    def check(ck: _Check, ref: dict[Any, Any], at: _At) -> None:
        if "kind" not in ref and default_kind is None:
            ck.fail(at.line, f"{at.name} is missing 'kind' ({' or '.join(groups)})")
        if name_required and "name" not in ref:
            ck.fail(at.line, f"{at.name} is missing 'name'")
        kind = str(ref.get("kind", default_kind))
        wanted = groups[kind]
        if "group" in ref and ref["group"] not in wanted:
            group_at = at.key(ref, "group")
            ck.fail(group_at.line, f"{group_at.name}: a {kind} is in group "
                    f"{' or '.join(repr(g) for g in wanted)}, got {ref['group']!r}")

    return check


TARGET_REF = _Map(
    {"group": v.text, "kind": v.enum(*_TARGETS, refused=_TARGETS_REFUSED), "name": _name},
    refused={"namespace": "a targetRef names a resource of the policy's own namespace, the class's one"},
    check=_ref_check(_TARGET_GROUPS),
)
_AUTHN_GROUPS = {"MeshTLSAuthentication": (LINKERD_POLICY,), "ServiceAccount": ("", "core")}
AUTHENTICATION_REF = _Map(
    {"group": v.text, "name": _name, "namespace": v.dns_label,
     "kind": v.enum(*_AUTHN_GROUPS, refused={"NetworkAuthentication": NO_IPS})},
    check=_ref_check(_AUTHN_GROUPS),
)
AUTHORIZATION_POLICY = _Map(
    {"targetRef": TARGET_REF, "requiredAuthenticationRefs": _ListOf(AUTHENTICATION_REF)},
    required=("targetRef", "requiredAuthenticationRefs"),
)

# --------------------------------------------------------------------------- MeshTLSAuthentication

def _identity(ck: _Check, value: Any, at: _At) -> str:
    written = v.nonempty_text(ck, value, at)
    if written != "*" and identity_parts(written) is None:
        ck.fail(at.line, f"{at.name} {written!r} is not a Linkerd identity: write <student>.<namespace>"
                f"{IDENTITY_SUFFIX} (a student's service account is her name), *.<namespace>{IDENTITY_SUFFIX} "
                "for all of a namespace, or * for every meshed hand")
    return written


_IDENTITY_REF_GROUPS = {"ServiceAccount": ("", "core"), "Namespace": ("", "core")}
IDENTITY_REF = _Map(
    {"group": v.text, "kind": v.enum(*_IDENTITY_REF_GROUPS), "name": _name, "namespace": v.dns_label},
    check=_ref_check(_IDENTITY_REF_GROUPS, name_required=False),
)


def _mesh_tls_check(ck: _Check, spec: dict[Any, Any], at: _At) -> None:
    given = [k for k in ("identities", "identityRefs") if spec.get(k)]
    if len(given) != 1:
        ck.fail(at.line, f"{at.name} needs identities or identityRefs, one of them (Linkerd's CRD takes "
                f"exactly one), got {' and '.join(given) or 'neither'}")


MESH_TLS_AUTHENTICATION = _Map(
    {"identities": _ListOf(_identity, nonempty=True), "identityRefs": _ListOf(IDENTITY_REF, nonempty=True)},
    check=_mesh_tls_check,
)

# --------------------------------------------------------------------------- Namespace (its annotation)

NAMESPACE = _Map({}, refused={"finalizers": "the class's namespace lives exactly as long as its round"})
NAMESPACE_ANNOTATIONS = {DEFAULT_POLICY_ANNOTATION: v.enum(*DEFAULT_POLICIES, refused={"audit": NO_AUDIT})}

# --------------------------------------------------------------------------- HTTPRoute

_SERVICE_GROUPS = {"Service": ("", "core")}
_SERVICE_REF = _ref_check(_SERVICE_GROUPS)


def _parent_check(ck: _Check, ref: dict[Any, Any], at: _At) -> None:
    _SERVICE_REF(ck, ref, at)
    if "group" not in ref:
        ck.fail(at.line, f"{at.name} needs group: core (or ''): left out, Gateway API reads a parentRef's group as "
                "gateway.networking.k8s.io, where there is no Service")


PARENT_REF = _Map(
    {"group": v.text, "name": _name,
     "kind": v.enum("Service", refused={
         "Server": "the class's HTTPRoutes route a sender's notes (outbound): a Server's own routes, for "
         "authorization by route, are not modelled",
         "Gateway": "the class has no gateways: notes travel between students"})},
    refused={"port": "a service is reached by its name: notes have no ports",
             "namespace": "the class is one namespace", "sectionName": "a service here has one port: no sections"},
    check=_parent_check,
)
BACKEND_REF = _Map(
    {"group": v.text, "kind": v.enum("Service"), "name": _name, "weight": v.int32(0, 1_000_000)},
    refused={"port": "a service is reached by its name: notes have no ports", "namespace": "the class is one namespace",
             "filters": NO_HEADER_EDITS},
    check=_ref_check(_SERVICE_GROUPS, default_kind="Service"),
)
_PATH_TYPES = ("PathPrefix", "Exact", "RegularExpression")


def _path_check(ck: _Check, body: dict[Any, Any], at: _At) -> None:
    value = body.get("value", "/")
    if body.get("type", "PathPrefix") != "RegularExpression" and not str(value).startswith("/"):
        ck.fail(at.line, f"{at.name}.value {value!r} must start with '/' (Gateway API's path rule)")


_HEADER_MATCH = _Map({"name": v.header_name, "value": v.text, "type": v.enum("Exact", "RegularExpression")},
                     required=("name", "value"))
MATCH = _Map(
    {"path": _Map({"type": v.enum(*_PATH_TYPES), "value": v.text}, check=_path_check),
     "headers": _ListOf(_HEADER_MATCH),
     "method": v.enum("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")},
    refused={"queryParams": "notes have no query string: a note's path is only a path"},
)
_ROUTE_RULE_REFUSED = {
    "filters": NO_HEADER_EDITS,
    "retry": "Linkerd reads retries from the route's annotations (retry.linkerd.io/http, /limit, /timeout), "
    "not Gateway API's experimental retry field",
    "sessionPersistence": "a note is one request: there is no session to keep",
    "name": "the class keeps no per-route statistics under a rule's name",
}
_NO_BACKENDS = ("the class needs a rule's backendRefs written: name the service itself (backendRefs: [{name: "
                "dana}]) to send its notes to it, as a rule without them forwards nowhere in Gateway API")


def _rule_check(ck: _Check, rule: dict[Any, Any], at: _At) -> None:
    if not rule.get("backendRefs"):
        ck.fail(at.line, f"{at.name} has no backendRefs: {_NO_BACKENDS}")


ROUTE_RULE = _Map(
    {"matches": _ListOf(MATCH), "backendRefs": _ListOf(BACKEND_REF),
     "timeouts": _Map({"request": v.DURATION}, refused={
         "backendRequest": "the class reads timeouts.request, as Linkerd's timeouts.md describes: a limit per "
         "try is the route's retry.linkerd.io/timeout annotation"})},
    refused=_ROUTE_RULE_REFUSED,
    check=_rule_check,
)
HTTP_ROUTE = _Map(
    {"parentRefs": _ListOf(PARENT_REF, nonempty=True), "rules": _ListOf(ROUTE_RULE, nonempty=True)},
    required=("parentRefs", "rules"),
    refused={"hostnames": "a note's host is its route's parentRef: name the service there"},
)


def _annotation_text(ck: _Check, value: Any, at: _At) -> str:
    if not isinstance(value, str):
        shown = f'"{value}"' if isinstance(value, int | float | bool) else 'like "3"'
        ck.fail(at.line, f"{at.name} must be text, as every Kubernetes annotation is: write it in quotes ({shown})")
    return value


def _retry_http(ck: _Check, value: Any, at: _At) -> tuple[str, ...]:
    """retry.linkerd.io/http: a comma-separated list of statuses, ranges (500-504), gateway-error or 5xx."""
    written = _annotation_text(ck, value, at)
    try:
        return status_tokens(written)
    except ValueError as exc:
        ck.fail(at.line, f"{at.name}: {exc}")


def _limit(ck: _Check, value: Any, at: _At) -> int:
    written = _annotation_text(ck, value, at)
    if not written.isdigit():
        ck.fail(at.line, f"{at.name} {written!r} must be a whole number of retries, like \"3\"")
    return int(written)


def _annotation_duration(ck: _Check, value: Any, at: _At) -> float:
    written = _annotation_text(ck, value, at)
    if written and written[-1].isdigit():  # Linkerd: "Units are required"
        ck.fail(at.line, f"{at.name} {written!r} needs its unit, as Linkerd asks: like \"300ms\" or \"2s\"")
    return float(v.DURATION(ck, written, at))


ROUTE_ANNOTATIONS = {RETRY_HTTP: _retry_http, RETRY_LIMIT: _limit, RETRY_TIMEOUT: _annotation_duration,
                     REQUEST_TIMEOUT: _annotation_duration}
ROUTE_ANNOTATIONS_REFUSED = {
    "retry.linkerd.io/grpc": f"{NO_GRPC}: retry on statuses with retry.linkerd.io/http",
    "timeout.linkerd.io/response": "the class times the whole note (timeout.linkerd.io/request) and each try "
    "(retry.linkerd.io/timeout), not the answer alone",
    "timeout.linkerd.io/idle": "a link between two desks never idles out: it stays up for the whole lesson",
    "balancer.linkerd.io/failure-accrual": "Linkerd reads failure accrual from a Service's annotations, and the "
    "class has no Service resources (not modelled yet)",
}


def annotations_reader(known: dict[str, Any], refused: dict[str, str], kind: str) -> Any:
    """A reader of ``metadata.annotations``: the keys this kind acts on, others refused with the reason."""

    def read(ck: _Check, value: Any, at: _At) -> None:
        if not isinstance(value, dict):
            ck.fail(at.line, f"{at.name} must be a mapping (key: value)")
        for key, item in value.items():
            key_at = at.key(value, key)
            if key in refused:
                ck.fail(key_at.line, f"{key_at.name} is not supported here: {refused[key]}")
            if key not in known:
                ck.fail(key_at.line, f"{key_at.name}: the class reads no other annotation on a {kind}; it reads "
                        f"{_choices(known)}")
            known[key](ck, item, key_at)

    return read


def _route_annotations_check(ck: _Check, found: dict[Any, Any], at: _At) -> None:
    lone = [k for k in (RETRY_LIMIT, RETRY_TIMEOUT) if k in found and RETRY_HTTP not in found]
    if lone:
        ck.fail(at.line, f"{at.name} sets {' and '.join(lone)} without {RETRY_HTTP}: the class retries only the "
                f"statuses {RETRY_HTTP} names (like \"5xx\"), so there would be no retries to count or time")


def route_annotations() -> Any:
    inner = annotations_reader(ROUTE_ANNOTATIONS, ROUTE_ANNOTATIONS_REFUSED, "HTTPRoute")

    def read(ck: _Check, value: Any, at: _At) -> None:
        inner(ck, value, at)
        _route_annotations_check(ck, value, at)

    return read


# --------------------------------------------------------------------------- names against the level


def _student_or_service(ck: _Check, value: Any, at: _At, roll: Any, what: str) -> None:
    if value not in roll.hosts:
        ck.fail(at.line, f"{at.name} {value!r} is not a student or a service of this level, so this {what} "
                f"matches nobody (students: {_choices(sorted(roll.hosts))})")


def _namespace(ck: _Check, value: Any, at: _At, roll: Any) -> None:
    if roll.namespace is not None and value != roll.namespace:
        ck.fail(at.line, f"{at.name} {value!r} is not this class's namespace: the class is one namespace, "
                f"{roll.namespace!r} (the level's name), so it names nobody")


def server_names(ck: _Check, spec: dict[str, Any], at: _At, roll: Any) -> None:
    selector = spec.get("podSelector") or {}
    labels = selector.get("matchLabels") or {}
    if labels and roll.workloads is not None and not any(
        all(w.get(k) == val for k, val in labels.items()) for w in roll.workloads
    ):
        labels_at = at.key(spec, "podSelector").key(selector, "matchLabels")
        ck.fail(labels_at.line, f"{labels_at.name} {_show(dict(labels))} fits no student of this level, so this "
                "Server picks nobody (a student's labels: app, her name unless given, and her labels)")


def authorization_names(ck: _Check, spec: dict[str, Any], at: _At, roll: Any) -> None:
    target = spec["targetRef"]
    if target["kind"] == "Namespace":
        _namespace(ck, target["name"], at.key(spec, "targetRef").key(target, "name"), roll)
    refs = spec["requiredAuthenticationRefs"]
    refs_at = at.key(spec, "requiredAuthenticationRefs")
    for index, ref in enumerate(refs):
        ref_at = refs_at.item(refs, index)
        if "namespace" in ref:
            _namespace(ck, ref["namespace"], ref_at.key(ref, "namespace"), roll)
        if ref["kind"] == "ServiceAccount":
            _student_or_service(ck, ref["name"], ref_at.key(ref, "name"), roll, "ServiceAccount")


def mesh_tls_names(ck: _Check, spec: dict[str, Any], at: _At, roll: Any) -> None:
    identities = spec.get("identities") or []
    ids_at = at.key(spec, "identities")
    for index, identity in enumerate(identities):
        parts = identity_parts(identity)
        if parts is None:
            continue
        account, namespace = parts
        item_at = ids_at.item(identities, index)
        _namespace(ck, namespace, item_at, roll)
        if account != "*":
            _student_or_service(ck, account, item_at, roll, "identity")
    refs = spec.get("identityRefs") or []
    refs_at = at.key(spec, "identityRefs")
    for index, ref in enumerate(refs):
        ref_at = refs_at.item(refs, index)
        if "namespace" in ref:
            _namespace(ck, ref["namespace"], ref_at.key(ref, "namespace"), roll)
        if ref["kind"] == "Namespace" and "name" in ref:
            _namespace(ck, ref["name"], ref_at.key(ref, "name"), roll)
        elif ref["kind"] == "ServiceAccount" and "name" in ref:
            _student_or_service(ck, ref["name"], ref_at.key(ref, "name"), roll, "ServiceAccount")


def route_names(ck: _Check, spec: dict[str, Any], at: _At, roll: Any) -> None:
    parents = spec["parentRefs"]
    parents_at = at.key(spec, "parentRefs")
    for index, ref in enumerate(parents):
        ref_at = parents_at.item(parents, index)
        _student_or_service(ck, ref["name"], ref_at.key(ref, "name"), roll, "parentRef")
    rules = spec.get("rules") or []
    rules_at = at.key(spec, "rules")
    for index, rule in enumerate(rules):
        backends = rule.get("backendRefs") or []
        backends_at = rules_at.item(rules, index).key(rule, "backendRefs")
        for b_index, backend in enumerate(backends):
            b_at = backends_at.item(backends, b_index)
            _student_or_service(ck, backend["name"], b_at.key(backend, "name"), roll, "backendRef")
        if len(backends) > 1 and not any(b.get("weight", 1) for b in backends):
            ck.fail(backends_at.line, f"{backends_at.name}: every backend weighs 0, so no note could go anywhere")


# --------------------------------------------------------------------------- the registry's rows

_LINKERD_V = (f"{LINKERD_POLICY}/v1alpha1",)
# (kind, apiVersions, spec, what a spec may not leave out, names check, annotations) for classroom.level.kinds.
LINKERD_KINDS: tuple[tuple[str, tuple[str, ...], _Map, tuple[str, ...], Any, Any], ...] = (
    # accessPolicy came with policy.linkerd.io/v1beta3; the older Servers have none.
    ("Server", (f"{LINKERD_POLICY}/v1beta3",), SERVER, ("port",), server_names, None),
    ("Server", (f"{LINKERD_POLICY}/v1beta2", f"{LINKERD_POLICY}/v1beta1"), SERVER_V1BETA1, ("port",),
     server_names, None),
    ("AuthorizationPolicy", _LINKERD_V, AUTHORIZATION_POLICY, ("targetRef",), authorization_names, None),
    ("MeshTLSAuthentication", _LINKERD_V, MESH_TLS_AUTHENTICATION, ("identities",), mesh_tls_names, None),
    ("HTTPRoute", (f"{LINKERD_POLICY}/v1beta3", f"{LINKERD_POLICY}/v1beta2", "gateway.networking.k8s.io/v1"),
     HTTP_ROUTE, ("parentRefs",), route_names, route_annotations()),
    # Kubernetes's own Namespace, read for Linkerd's default inbound policy annotation only.
    ("Namespace", ("v1",), NAMESPACE, (), None, annotations_reader(NAMESPACE_ANNOTATIONS, {}, "Namespace")),
)


def overlapping_servers(ck: _Check, items: list[tuple[Any, _At]], roll: Any) -> None:
    """Two Servers may not pick one student's port: Linkerd's admission controller refuses the second."""
    if roll is None or roll.workloads is None:
        return
    seen: list[tuple[str, dict[str, Any], _At]] = []
    for resource, at in items:
        if resource.get("kind") != "Server" or not str(resource.get("apiVersion", "")).startswith(LINKERD_POLICY):
            continue
        labels = ((resource.get("spec") or {}).get("podSelector") or {}).get("matchLabels") or {}
        for other, other_labels, other_at in seen:
            both = sorted({str(w.get("app")) for w in roll.workloads
                           if all(w.get(k) == val for k, val in labels.items())
                           and all(w.get(k) == val for k, val in other_labels.items())})
            if both:
                ck.fail(at.line, f"{at.name} picks the port of {_choices(both)}, which Server {other!r} "
                        f"({other_at.name}) already picks: Linkerd refuses two Servers on one pod's port")
        seen.append((str(resource["metadata"]["name"]), labels, at))
