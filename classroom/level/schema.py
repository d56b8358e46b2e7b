"""The mesh resources a level or a config may hold: Istio's shapes, and the names they may use.

Theory of operation
-------------------
A resource is one of the kinds of :mod:`classroom.level.kinds` (its
``kind`` and ``apiVersion`` pick one).  Its ``spec`` is checked against the
shape of its kind: Istio's own, written with the checker kit's ``_Map``,
``_MapOf`` and ``_ListOf`` in :mod:`classroom.level.networking`
(VirtualService, DestinationRule) and :mod:`classroom.level.security`
(PeerAuthentication, AuthorizationPolicy), with Istio's value types as leaves
(:mod:`classroom.level.istiovalues`).  Every field the class accepts is one it
acts on; every other field Istio has is refused at its line with the reason,
and a misspelt one is refused naming the allowed ones.  This shape check alone
is :func:`check_resource` (the analyzer reports what it refuses as IST0106).

Then its names are checked against the level (``_check_names``): hosts,
route destinations and selectors must name students, or services (the
``app`` label several students share, see ``_hosts``), a selector's labels
must fit at least one student (``_workloads``), and a namespace, when given,
must be the level's own (the class is one namespace).  Without a level (a
``--config`` checked on its own) any name will do.  A list of resources
(``_resources``, or :func:`validate_resources` for callers outside the
package) also may not hold two of one kind with one name.  Under a profile
whose mesh has no such resource (a PeerAuthentication under linkerd, consul or
traefik, another mesh's kind: :func:`classroom.level.kinds.refused`), a
resource is refused at its kind, saying what that mesh does instead.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from classroom.level.checks import (
    _At,
    _Check,
    _choice,
    _choices,
    _describe,
    _duration,
    _list,
    _Map,
    _MapOf,
    _mapping,
    _show,
    _text,
    _walk,
)
from classroom.level.istiovalues import dns_label, label_key, label_value
from classroom.level.kinds import KIND_NAMES, KINDS, Kind, named, refused, resolve
from classroom.level.linkerd import overlapping_servers
from classroom.level.model import STUDENT_LABEL, Student
from classroom.level.yamlines import line_of

# The kinds the window's form builds and a new resource's apiVersion: Istio's and the classroom's own.
RESOURCE_KINDS: dict[str, tuple[str, ...]] = {k.kind: k.versions for k in KINDS if k.owner in (None, "istio")}
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")


def _r_text(ck: _Check, value: Any, at: _At) -> None:
    _text(ck, value, at)


def _r_duration(ck: _Check, value: Any, at: _At) -> None:
    _duration(ck, value, at)


def _r_resource_name(ck: _Check, value: Any, at: _At) -> None:
    text = _text(ck, value, at)
    if len(text) > 253 or not _DNS_SUBDOMAIN.fullmatch(text):
        ck.fail(
            at.line,
            f"{at.name} {text!r} is not a valid resource name: use lowercase "
            "letters, digits, '-' and '.', starting and ending with a letter or digit",
        )


_METADATA = _Map(
    {"name": _r_resource_name, "namespace": dns_label, "labels": _MapOf(label_key, label_value)},
    required=("name",),
)


@dataclass(frozen=True)
class _Roll:
    """What a level's resources may name: its hosts (students and services), its students' labels, its namespace.

    ``workloads`` and ``namespace`` are None when only the names are known (the window's form).
    """

    hosts: Collection[str]
    workloads: Collection[Mapping[str, str]] | None = None
    namespace: str | None = None
    profile: str | None = None  # the level's mesh: the kinds it has


def _roll(students: Collection[Student], namespace: str | None, profile: str | None = None) -> _Roll:
    return _Roll(_hosts(students), _workloads(students), namespace, profile)


def refuse_foreign_kind(ck: _Check, kind: Kind | str, at: _At, profile: str | None) -> None:
    """A kind the profile's mesh does not have is refused at its line, saying what the mesh does instead."""
    why = refused(kind, profile) if profile is not None else None
    if why is not None:
        ck.fail(at.line, f"{at.name}: {why}")


def _check_student(ck: _Check, value: Any, at: _At, roll: _Roll | None, what: str) -> None:
    if roll is None or value == "*" or value in roll.hosts:
        return
    ck.fail(
        at.line,
        f"{at.name} {value!r} is not a student of this level, so this {what} "
        f"matches nobody (students: {_choices(sorted(roll.hosts))})",
    )


def _shape(ck: _Check, value: Any, at: _At) -> tuple[dict[str, Any], Kind]:
    """A resource checked on its own, as its mesh's API server checks it: kind, apiVersion, metadata, spec."""
    resource = _mapping(
        ck, value, at, ("apiVersion", "kind", "metadata", "spec"), ("apiVersion", "kind", "metadata")
    )
    kind_at = at.key(resource, "kind")
    name = _choice(ck, resource["kind"], kind_at, KIND_NAMES)
    kind = resolve(name, resource["apiVersion"])
    if kind is None:
        versions = [v for k in named(name) for v in k.versions]
        version_at = at.key(resource, "apiVersion")
        ck.fail(
            version_at.line,
            f"{version_at.name}: a {name} has apiVersion "
            f"{' or '.join(versions)}, got {_describe(resource['apiVersion'])}",
        )
    metadata = _METADATA if kind.annotations is None else _Map(
        {**_METADATA.fields, "annotations": kind.annotations}, required=_METADATA.required)
    _walk(ck, resource["metadata"], at.key(resource, "metadata"), metadata)
    if "spec" not in resource:
        if kind.needs:
            ck.fail(at.line, f"{at.name} ({name}) is missing 'spec' (it needs {kind.needs[0]!r})")
        return resource, kind
    _walk(ck, resource["spec"], at.key(resource, "spec"), kind.spec)
    return resource, kind


def _resource(ck: _Check, value: Any, at: _At, roll: _Roll | None) -> None:
    resource, kind = _shape(ck, value, at)
    if roll is None:
        return
    refuse_foreign_kind(ck, kind, at.key(resource, "kind"), roll.profile)
    metadata = resource["metadata"]
    if roll.namespace is not None and metadata.get("namespace", roll.namespace) != roll.namespace:
        ns_at = at.key(resource, "metadata").key(metadata, "namespace")
        ck.fail(
            ns_at.line,
            f"{ns_at.name} {metadata['namespace']!r} is not this class's namespace: the class is one namespace, "
            f"{roll.namespace!r} (the level's name), so a resource elsewhere would govern nobody; leave it out",
        )
    if kind.kind == "Namespace" and roll.namespace is not None and metadata["name"] != roll.namespace:
        name_at = at.key(resource, "metadata").key(metadata, "name")
        ck.fail(name_at.line, f"{name_at.name} {metadata['name']!r} is not this class's namespace: the class is one "
                f"namespace, {roll.namespace!r} (the level's name)")
    if "spec" in resource:
        _check_names(ck, resource["kind"], resource["spec"], at.key(resource, "spec"), roll)
        if kind.names is not None:
            kind.names(ck, resource["spec"], at.key(resource, "spec"), roll)


def _check_names(ck: _Check, kind: str, spec: dict[str, Any], at: _At, roll: _Roll) -> None:
    """The parts of a resource that name students: hosts, destinations, selectors.

    A selector's ``matchLabels`` pick students by their labels (see :func:`_workloads`),
    so together they must fit at least one student.
    """
    selector = spec.get("selector")
    if isinstance(selector, dict) and isinstance(selector.get("matchLabels"), dict):
        labels = selector["matchLabels"]
        labels_at = at.key(spec, "selector").key(selector, "matchLabels")
        if STUDENT_LABEL in labels:
            label_at = labels_at.key(labels, STUDENT_LABEL)
            _check_student(ck, labels[STUDENT_LABEL], label_at, roll, f"{kind} selector")
        if roll.workloads is not None and not any(
            all(workload.get(key) == value for key, value in labels.items()) for workload in roll.workloads
        ):
            ck.fail(
                labels_at.line,
                f"{labels_at.name} {_show(dict(labels))} fits no student of this level, so this {kind} "
                "selector matches nobody (a student's labels: app, her name unless given, and her labels)",
            )
    if kind == "DestinationRule":
        _check_student(ck, spec["host"], at.key(spec, "host"), roll, "DestinationRule")
    if kind != "VirtualService":
        return
    hosts_at = at.key(spec, "hosts")
    for index, host in enumerate(spec["hosts"]):
        _check_student(ck, host, hosts_at.item(spec["hosts"], index), roll, "VirtualService host")
    http_at = at.key(spec, "http")
    for index, http in enumerate(spec.get("http") or []):
        route_at = http_at.item(spec["http"], index).key(http, "route")
        routes = http.get("route") or []
        for r_index, route in enumerate(routes):
            dest_at = route_at.item(routes, r_index).key(route, "destination")
            destination = route["destination"]
            _check_student(ck, destination["host"], dest_at.key(destination, "host"), roll, "route")


def _resources(ck: _Check, items: list[tuple[Any, _At]], roll: _Roll | None) -> tuple[dict[str, Any], ...]:
    seen: dict[tuple[str, str, str], _At] = {}
    for value, at in items:
        _resource(ck, value, at, roll)
        kind = resolve(value["kind"], value["apiVersion"])
        if kind is not None and kind.one_per is not None and isinstance(value.get("spec"), dict):
            what, key = kind.one_per
            identity = (value["kind"], f"{what} of", str(key(value["spec"])))
            if identity in seen:
                ck.fail(at.line, f"{at.name} is a second {value['kind']} for the {what} {identity[2]!r} (the "
                        f"first is {seen[identity].name}, line {seen[identity].line}): there is one per {what}")
            seen[identity] = at
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
    overlapping_servers(ck, items, roll)  # Linkerd's admission rule between Servers
    return tuple(value for value, _ in items)


def validate_resources(
    resources: Any,
    path: str = "<resources>",
    *,
    where: str = "resources",
    line: int = 0,
    students: Collection[str] | None = None,
    namespace: str | None = None,
    profile: str | None = None,
) -> tuple[dict[str, Any], ...]:
    """Check a list of Istio-shaped resources; returns them as a tuple.

    ``where`` and ``line`` name the list in messages; ``students``, when given,
    are the names that hosts and selectors may use, and ``namespace`` the one
    namespace the resources may name, ``profile`` the mesh whose kinds they must be.  Raises :class:`LevelError`.
    """
    ck = _Check(path)
    at = _At(where, line_of(resources, None, line))
    items = _list(ck, resources, at)
    roll = None if students is None else _Roll(students, None, namespace, profile)
    return _resources(ck, [(item, at.item(items, i)) for i, item in enumerate(items)], roll)


def check_resource(resource: Any, path: str = "<resources>", where: str = "resources[0]") -> dict[str, Any]:
    """Check one resource's shape as Istio's API server would, naming no students; raises :class:`LevelError`.

    The analyzer (:mod:`classroom.analyze`) reports what this refuses as IST0106 and goes on.
    """
    return _shape(_Check(path), resource, _At(where, line_of(resource)))[0]


def _hosts(students: Collection[Student]) -> list[str]:
    """What notes and rules may name: a student, or a service (the ``app`` label several share)."""
    return sorted({*(s.name for s in students), *(s.app for s in students)})


def _workloads(students: Collection[Student]) -> list[dict[str, str]]:
    """Every student's labels, as selectors see them: ``app`` is her name unless the level says."""
    return [{STUDENT_LABEL: s.name, **dict(s.labels)} for s in students]
