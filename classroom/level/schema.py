"""The mesh resources a level or a config may hold: the Istio fields the class knows, and their names.

Theory of operation
-------------------
A resource is one of :data:`RESOURCE_KINDS` (each with the apiVersions it
may give).  Its ``spec`` is checked against a declarative schema of the Istio
fields the class knows (``_SPECS``, built from the checker kit's ``_Map``,
``_ListOf`` and ``_OneOf`` with readers as leaves), so an unknown or
misspelt field is refused at its line, naming the allowed ones.

Then its names are checked against the level (``_check_names``): hosts,
route destinations and selectors must name students, or services (the
``app`` label several students share, see ``_hosts``), and a selector's
labels must fit at least one student (``_workloads``).  Without a level (a
``--config`` checked on its own) any name will do.  A list of resources
(``_resources``, or :func:`validate_resources` for callers outside the
package) also may not hold two of one kind with one name.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from classroom.level.checks import (
    _At,
    _Check,
    _choice,
    _choices,
    _describe,
    _duration,
    _int,
    _list,
    _ListOf,
    _Map,
    _mapping,
    _number,
    _OneOf,
    _Reader,
    _show,
    _text,
    _type_error,
    _walk,
)
from classroom.level.model import STUDENT_LABEL, Student
from classroom.level.yamlines import line_of

MTLS_MODES = ("STRICT", "PERMISSIVE", "DISABLE", "UNSET")
ACTIONS = ("ALLOW", "DENY")
LOAD_BALANCERS = ("UNSPECIFIED", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST", "LEAST_CONN")
RETRY_ON = (
    "5xx",
    "gateway-error",
    "reset",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
)
RESOURCE_KINDS: dict[str, tuple[str, ...]] = {
    "PeerAuthentication": ("security.istio.io/v1", "security.istio.io/v1beta1"),
    "AuthorizationPolicy": ("security.istio.io/v1", "security.istio.io/v1beta1"),
    "VirtualService": (
        "networking.istio.io/v1",
        "networking.istio.io/v1beta1",
        "networking.istio.io/v1alpha3",
    ),
    "DestinationRule": (
        "networking.istio.io/v1",
        "networking.istio.io/v1beta1",
        "networking.istio.io/v1alpha3",
    ),
    # The class's own: how the office hands out ID cards (Istio keeps these in MeshConfig and
    # istio-agent settings: SECRET_TTL, SECRET_GRACE_PERIOD_RATIO, plugged-in CA rotation).
    "IdentityPolicy": ("classroom.mesh/v1",),
}
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")


def _r_text(ck: _Check, value: Any, at: _At) -> None:
    _text(ck, value, at)


def _r_count(ck: _Check, value: Any, at: _At) -> None:
    _int(ck, value, at, minimum=0)


def _r_ratio(ck: _Check, value: Any, at: _At) -> None:
    _number(ck, value, at, minimum=0.05, maximum=2.0)


def _r_percent(ck: _Check, value: Any, at: _At) -> None:
    _number(ck, value, at, minimum=0, maximum=100)


def _r_weight(ck: _Check, value: Any, at: _At) -> None:
    _int(ck, value, at, minimum=0, maximum=100)


def _r_status(ck: _Check, value: Any, at: _At) -> None:
    _int(ck, value, at, minimum=100, maximum=599)


def _r_duration(ck: _Check, value: Any, at: _At) -> None:
    _duration(ck, value, at)


def _r_port(ck: _Check, value: Any, at: _At) -> None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        _type_error(ck, value, at, "a port (text or number)")


def _r_any_mapping(ck: _Check, value: Any, at: _At) -> None:
    if not isinstance(value, dict):
        _type_error(ck, value, at, "a mapping (key: value)")


def _r_labels(ck: _Check, value: Any, at: _At) -> None:
    if not isinstance(value, dict):
        _type_error(ck, value, at, "a mapping of labels (key: value)")
    for key, label in value.items():
        _text(ck, key, at.key(value, str(key)))
        _text(ck, label, at.key(value, str(key)))


def _r_enum(*choices: str) -> _Reader:
    def read(ck: _Check, value: Any, at: _At) -> None:
        _choice(ck, value, at, choices)

    return read


def _r_retry_on(ck: _Check, value: Any, at: _At) -> None:
    text = _text(ck, value, at)
    for part in (p.strip() for p in text.split(",")):
        if part not in RETRY_ON and not re.fullmatch(r"[1-5]\d\d", part):
            ck.fail(
                at.line,
                f"{at.name}: {part!r} is not a retry condition; Istio knows "
                f"{_choices(RETRY_ON)} and HTTP status codes like 503",
            )


def _r_resource_name(ck: _Check, value: Any, at: _At) -> None:
    text = _text(ck, value, at)
    if len(text) > 253 or not _DNS_SUBDOMAIN.fullmatch(text):
        ck.fail(
            at.line,
            f"{at.name} {text!r} is not a valid resource name: use lowercase "
            "letters, digits, '-' and '.', starting and ending with a letter or digit",
        )


_TEXTS = _ListOf(_r_text)
_PERCENTAGE = _Map({"value": _r_percent})
_SELECTOR = _Map({"matchLabels": _r_labels})
_TRAFFIC_POLICY = _Map(
    {
        "outlierDetection": _Map(
            {
                "consecutive5xxErrors": _r_count,
                "consecutiveGatewayErrors": _r_count,
                "interval": _r_duration,
                "baseEjectionTime": _r_duration,
                "maxEjectionPercent": _r_weight,
            }
        ),
        "connectionPool": _Map(
            {
                "tcp": _Map({"maxConnections": _r_count, "connectTimeout": _r_duration}),
                "http": _Map(
                    {
                        "http1MaxPendingRequests": _r_count,
                        "maxRequestsPerConnection": _r_count,
                        "maxRetries": _r_count,
                    }
                ),
            }
        ),
        "loadBalancer": _Map({"simple": _r_enum(*LOAD_BALANCERS)}),
        "retryBudget": _Map(
            {
                "percent": _OneOf((_r_percent, _PERCENTAGE), "a percentage 0-100 or {value: 0-100}"),
                "minRetryConcurrency": _r_count,
            }
        ),
    }
)
_SPECS: dict[str, tuple[_Map, tuple[str, ...]]] = {
    # kind: (spec schema, keys the spec must have)
    "IdentityPolicy": (
        _Map(
            {
                "certLifetime": _r_duration,
                "renewAt": _r_ratio,
                "caRotation": _Map({"at": _r_duration, "trustOldRootUntil": _r_duration}),
            }
        ),
        (),
    ),
    "PeerAuthentication": (
        _Map(
            {
                "selector": _SELECTOR,
                "mtls": _Map({"mode": _r_enum(*MTLS_MODES)}),
            }
        ),
        (),
    ),
    "AuthorizationPolicy": (
        _Map(
            {
                "selector": _SELECTOR,
                "action": _r_enum(*ACTIONS),
                "rules": _ListOf(
                    _Map(
                        {
                            "from": _ListOf(
                                _Map(
                                    {
                                        "source": _Map(
                                            {
                                                "principals": _TEXTS,
                                                "notPrincipals": _TEXTS,
                                                "namespaces": _TEXTS,
                                            }
                                        )
                                    }
                                )
                            ),
                            "to": _ListOf(
                                _Map(
                                    {
                                        "operation": _Map(
                                            {
                                                "hosts": _TEXTS,
                                                "paths": _TEXTS,
                                                "methods": _TEXTS,
                                                "ports": _ListOf(_r_port),
                                            }
                                        )
                                    }
                                )
                            ),
                        }
                    )
                ),
            }
        ),
        (),
    ),
    "VirtualService": (
        _Map(
            {
                "hosts": _TEXTS,
                "http": _ListOf(
                    _Map(
                        {
                            "name": _r_text,
                            "match": _ListOf(_r_any_mapping),
                            "route": _ListOf(
                                _Map(
                                    {
                                        "destination": _Map(
                                            {"host": _r_text, "subset": _r_text}, required=("host",)
                                        ),
                                        "weight": _r_weight,
                                    },
                                    required=("destination",),
                                )
                            ),
                            "timeout": _r_duration,
                            "retries": _Map(
                                {
                                    "attempts": _r_count,
                                    "perTryTimeout": _r_duration,
                                    "retryOn": _r_retry_on,
                                    "backoff": _r_duration,
                                }
                            ),
                            "fault": _Map(
                                {
                                    "delay": _Map(
                                        {"percentage": _PERCENTAGE, "fixedDelay": _r_duration},
                                        required=("fixedDelay",),
                                    ),
                                    "abort": _Map(
                                        {"percentage": _PERCENTAGE, "httpStatus": _r_status},
                                        required=("httpStatus",),
                                    ),
                                }
                            ),
                        }
                    )
                ),
            }
        ),
        ("hosts",),
    ),
    "DestinationRule": (
        _Map(
            {
                "host": _r_text,
                "trafficPolicy": _TRAFFIC_POLICY,
                "subsets": _ListOf(
                    _Map(
                        {"name": _r_text, "labels": _r_labels, "trafficPolicy": _TRAFFIC_POLICY},
                        required=("name",),
                    )
                ),
            }
        ),
        ("host",),
    ),
}
_METADATA = _Map({"name": _r_resource_name, "namespace": _r_text, "labels": _r_labels}, required=("name",))


def _check_student(ck: _Check, value: Any, at: _At, students: Collection[str] | None, what: str) -> None:
    if students is None or value == "*" or value in students:
        return
    ck.fail(
        at.line,
        f"{at.name} {value!r} is not a student of this level, so this {what} "
        f"matches nobody (students: {_choices(sorted(students))})",
    )


def _resource(
    ck: _Check,
    value: Any,
    at: _At,
    students: Collection[str] | None,
    workloads: Collection[Mapping[str, str]] | None = None,
) -> None:
    resource = _mapping(
        ck, value, at, ("apiVersion", "kind", "metadata", "spec"), ("apiVersion", "kind", "metadata")
    )
    kind_at = at.key(resource, "kind")
    kind = _choice(ck, resource["kind"], kind_at, tuple(RESOURCE_KINDS))
    versions = RESOURCE_KINDS[kind]
    version_at = at.key(resource, "apiVersion")
    if resource["apiVersion"] not in versions:
        ck.fail(
            version_at.line,
            f"{version_at.name}: a {kind} has apiVersion "
            f"{' or '.join(versions)}, got {_describe(resource['apiVersion'])}",
        )
    _walk(ck, resource["metadata"], at.key(resource, "metadata"), _METADATA)
    schema, required = _SPECS[kind]
    spec_at = at.key(resource, "spec")
    if "spec" not in resource:
        if required:
            ck.fail(at.line, f"{at.name} ({kind}) is missing 'spec' (it needs {required[0]!r})")
        return
    spec = resource["spec"]
    _walk(ck, spec, spec_at, _Map(schema.fields, required))
    _check_names(ck, kind, spec, spec_at, students, workloads)


def _check_names(
    ck: _Check,
    kind: str,
    spec: dict[str, Any],
    at: _At,
    students: Collection[str] | None,
    workloads: Collection[Mapping[str, str]] | None = None,
) -> None:
    """The parts of a resource that name students, and Istio's rules about routes.

    A selector's ``matchLabels`` pick students by their labels (see :func:`_workloads`),
    so together they must fit at least one student.
    """
    selector = spec.get("selector")
    if isinstance(selector, dict) and isinstance(selector.get("matchLabels"), dict):
        labels = selector["matchLabels"]
        labels_at = at.key(spec, "selector").key(selector, "matchLabels")
        if STUDENT_LABEL in labels:
            label_at = labels_at.key(labels, STUDENT_LABEL)
            _check_student(ck, labels[STUDENT_LABEL], label_at, students, f"{kind} selector")
        if workloads is not None and not any(
            all(workload.get(key) == value for key, value in labels.items()) for workload in workloads
        ):
            ck.fail(
                labels_at.line,
                f"{labels_at.name} {_show(dict(labels))} fits no student of this level, so this {kind} "
                "selector matches nobody (a student's labels: app, her name unless given, and her labels)",
            )
    if kind == "DestinationRule":
        _check_student(ck, spec["host"], at.key(spec, "host"), students, "DestinationRule")
    if kind != "VirtualService":
        return
    hosts_at = at.key(spec, "hosts")
    for index, host in enumerate(spec["hosts"]):
        _check_student(ck, host, hosts_at.item(spec["hosts"], index), students, "VirtualService host")
    http_at = at.key(spec, "http")
    for index, http in enumerate(spec.get("http") or []):
        route_at = http_at.item(spec["http"], index).key(http, "route")
        routes = http.get("route") or []
        for r_index, route in enumerate(routes):
            dest_at = route_at.item(routes, r_index).key(route, "destination")
            destination = route["destination"]
            _check_student(ck, destination["host"], dest_at.key(destination, "host"), students, "route")
        if len(routes) > 1:
            total = sum(route.get("weight", 0) for route in routes)
            if total != 100:
                ck.fail(
                    route_at.line,
                    f"{route_at.name}: the weights of its {len(routes)} "
                    f"destinations add up to {total}, not 100",
                )


def _resources(
    ck: _Check,
    items: list[tuple[Any, _At]],
    students: Collection[str] | None,
    workloads: Collection[Mapping[str, str]] | None = None,
) -> tuple[dict[str, Any], ...]:
    seen: dict[tuple[str, str, str], _At] = {}
    for value, at in items:
        _resource(ck, value, at, students, workloads)
        metadata = value["metadata"]
        identity = (value["kind"], metadata.get("namespace", ""), metadata["name"])
        name_at = at.key(value, "metadata").key(metadata, "name")
        if identity in seen:
            ck.fail(
                name_at.line,
                f"{at.name} is a second {value['kind']} named "
                f"{metadata['name']!r} (the first is {seen[identity].name}, line "
                f"{seen[identity].line})",
            )
        seen[identity] = at
    return tuple(value for value, _ in items)


def validate_resources(
    resources: Any,
    path: str = "<resources>",
    *,
    where: str = "resources",
    line: int = 0,
    students: Collection[str] | None = None,
) -> tuple[dict[str, Any], ...]:
    """Check a list of Istio-shaped resources; returns them as a tuple.

    ``where`` and ``line`` name the list in messages; ``students``, when given,
    are the names that hosts and selectors may use.  Raises :class:`LevelError`.
    """
    ck = _Check(path)
    at = _At(where, line_of(resources, None, line))
    items = _list(ck, resources, at)
    return _resources(ck, [(item, at.item(items, i)) for i, item in enumerate(items)], students)


def _hosts(students: Collection[Student]) -> list[str]:
    """What notes and rules may name: a student, or a service (the ``app`` label several share)."""
    return sorted({*(s.name for s in students), *(s.app for s in students)})


def _workloads(students: Collection[Student]) -> list[dict[str, str]]:
    """Every student's labels, as selectors see them: ``app`` is her name unless the level says."""
    return [{STUDENT_LABEL: s.name, **dict(s.labels)} for s in students]
