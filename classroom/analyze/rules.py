"""The analyzers that read the resources and the roll: names, selectors, subsets, conflicts, policies without effect.

Each function takes the :class:`~classroom.analyze.context.Context` and
reports what it finds; those that need the students (hosts, selectors, the
namespace) do nothing without a level.  Istio's codes where istioctl has the
same check (IST0101, IST0109, IST0127, IST0167, IST0173, IST0174); the
class's own (CLS) for the mistakes a student makes writing a class's rules:
a principal that names nobody, a method in lowercase, weights that are not
percentages, two class-wide PeerAuthentications, a namespace not the class's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from classroom.analyze.context import Context, Item
from classroom.analyze.messages import (
    CONFLICTING_VIRTUAL_SERVICE_HOSTS,
    INEFFECTIVE_POLICY,
    METHOD_NEVER_MATCHES,
    NO_MATCHING_WORKLOADS,
    NOT_THE_CLASS_NAMESPACE,
    PRINCIPAL_NAMES_NOBODY,
    REFERENCED_RESOURCE_NOT_FOUND,
    SUBSET_SELECTS_NOBODY,
    TWO_CLASS_WIDE_PEER_AUTHENTICATIONS,
    UNKNOWN_DESTINATION_RULE_HOST,
    WEIGHTS_ARE_SHARES,
    quote,
    render,
)
from classroom.level import METHODS

TRUST_DOMAIN = "classroom.local"


def _labels(selector: Any) -> dict[str, str]:
    return dict((selector or {}).get("matchLabels") or {}) if isinstance(selector, dict) else {}


def _fits(labels: Mapping[str, str], workload: Mapping[str, str]) -> bool:
    return all(workload.get(k) == v for k, v in labels.items())


def namespaces(ctx: Context) -> None:
    """CLS0009: a namespace other than the level's (the class is one namespace, named after the level)."""
    if ctx.level is None:
        return
    for item in ctx.items:
        namespace = (item.resource.get("metadata") or {}).get("namespace")
        if namespace is not None and namespace != ctx.level.name:
            ctx.report(NOT_THE_CLASS_NAMESPACE, item, (
                f"{item.kind} {item.name} is in namespace {namespace!r}, but the class is one namespace, "
                f"{ctx.level.name!r} (the level's name): a resource elsewhere governs nobody here"),
                "namespace", root="metadata")


def hosts(ctx: Context) -> None:
    """IST0101: a VirtualService's hosts and destinations, and a route's subset, must exist; IST0174 for a DR."""
    known = ctx.hosts
    subsets: dict[str, set[str]] = defaultdict(set)
    for rule in ctx.of_kind("DestinationRule"):
        for subset in rule.spec.get("subsets") or []:
            subsets[str(rule.spec["host"])].add(str(subset["name"]))
    for item in ctx.of_kind("VirtualService"):
        if known is not None:
            for index, host in enumerate(item.spec.get("hosts") or []):
                if host not in known:
                    ctx.report(REFERENCED_RESOURCE_NOT_FOUND, item,
                               render(REFERENCED_RESOURCE_NOT_FOUND, "host", quote(host)), "hosts", index)
        for r, rule in enumerate(item.spec.get("http") or []):
            for d, route in enumerate(rule.get("route") or []):
                destination = route["destination"]
                host, subset = str(destination["host"]), destination.get("subset")
                if known is not None and host not in known:
                    ctx.report(REFERENCED_RESOURCE_NOT_FOUND, item,
                               render(REFERENCED_RESOURCE_NOT_FOUND, "host", quote(host)),
                               "http", r, "route", d, "destination", "host")
                elif subset is not None and subset not in subsets.get(host, set()) | subsets.get("*", set()):
                    ctx.report(REFERENCED_RESOURCE_NOT_FOUND, item,
                               render(REFERENCED_RESOURCE_NOT_FOUND, "host+subset in destinationrule",
                                      quote(f"{host}+{subset}")),
                               "http", r, "route", d, "destination", "subset")
    if known is None:
        return
    for item in ctx.of_kind("DestinationRule"):
        host = str(item.spec["host"])
        if host != "*" and host not in known:
            ctx.report(UNKNOWN_DESTINATION_RULE_HOST, item, render(UNKNOWN_DESTINATION_RULE_HOST, host), "host")


def conflicting_hosts(ctx: Context) -> None:
    """IST0109: two VirtualServices for one host (Istio merges them in no defined order; the class takes one)."""
    by_host: dict[str, list[Item]] = defaultdict(list)
    for item in ctx.of_kind("VirtualService"):
        for host in item.spec.get("hosts") or []:
            by_host[str(host)].append(item)
    for host, items in by_host.items():
        if len(items) > 1:
            names = ",".join(f"{ctx.namespace}/{i.name}" for i in items)
            for item in items:
                index = list(item.spec["hosts"]).index(host)
                ctx.report(CONFLICTING_VIRTUAL_SERVICE_HOSTS, item,
                           render(CONFLICTING_VIRTUAL_SERVICE_HOSTS, names, host), "hosts", index)


def selectors(ctx: Context) -> None:
    """IST0127: a PeerAuthentication's or AuthorizationPolicy's selector that fits no student."""
    if ctx.level is None:
        return
    workloads = ctx.workloads()
    for kind in ("PeerAuthentication", "AuthorizationPolicy"):
        for item in ctx.of_kind(kind):
            labels = _labels(item.spec.get("selector"))
            if labels and not any(_fits(labels, w) for w in workloads):
                shown = ",".join(f"{k}={v}" for k, v in labels.items())
                ctx.report(NO_MATCHING_WORKLOADS, item, render(NO_MATCHING_WORKLOADS, shown),
                           "selector", "matchLabels")


def subsets(ctx: Context) -> None:
    """IST0173: a subset whose labels fit no student of its host; IST0167: a subset policy no route uses."""
    routed: set[tuple[str, str]] = set()
    for item in ctx.of_kind("VirtualService"):
        for rule in item.spec.get("http") or []:
            for route in rule.get("route") or []:
                destination = route["destination"]
                if destination.get("subset") is not None:
                    routed.add((str(destination["host"]), str(destination["subset"])))
    workloads = ctx.workloads() if ctx.level is not None else None
    for item in ctx.of_kind("DestinationRule"):
        host = str(item.spec["host"])
        for index, subset in enumerate(item.spec.get("subsets") or []):
            name = str(subset["name"])
            labels = dict(subset.get("labels") or {})
            if workloads is not None and host != "*" and not any(_fits(labels, w) for w in ctx.workloads_of(host)):
                ctx.report(SUBSET_SELECTS_NOBODY, item, render(SUBSET_SELECTS_NOBODY, name), "subsets", index)
            if subset.get("trafficPolicy") and (host, name) not in routed:
                ctx.report(INEFFECTIVE_POLICY, item, render(
                    INEFFECTIVE_POLICY, f"the trafficPolicy of subset {name} acts only on notes a route sends to "
                    f"that subset, and no VirtualService route sends notes to {host}+{name}"),
                    "subsets", index, "trafficPolicy")


def outlier_detection(ctx: Context) -> None:
    """IST0167: consecutiveGatewayErrors has no effect when consecutive5xxErrors is as low or lower."""
    for item in ctx.of_kind("DestinationRule"):
        places: list[tuple[tuple[str | int, ...], Any]] = [(("trafficPolicy",), item.spec.get("trafficPolicy"))]
        places += [(("subsets", i, "trafficPolicy"), s.get("trafficPolicy"))
                   for i, s in enumerate(item.spec.get("subsets") or [])]
        for path, policy in places:
            od = (policy or {}).get("outlierDetection") or {}
            gateway, any5xx = od.get("consecutiveGatewayErrors"), od.get("consecutive5xxErrors", 5)
            if gateway and any5xx and gateway >= any5xx:
                ctx.report(INEFFECTIVE_POLICY, item, render(
                    INEFFECTIVE_POLICY, f"consecutiveGatewayErrors {gateway} never ejects first: consecutive5xxErrors "
                    f"{any5xx} counts the same 502-504 answers and more, and ejects at {any5xx}"),
                    *path, "outlierDetection", "consecutiveGatewayErrors")


def weights(ctx: Context) -> None:
    """CLS0007: weights that do not add up to 100 are still shares of their total, as Istio reads them."""
    for item in ctx.of_kind("VirtualService"):
        for r, rule in enumerate(item.spec.get("http") or []):
            routes = rule.get("route") or []
            total = sum(route.get("weight", 0) for route in routes)
            if len(routes) > 1 and total not in (0, 100):
                shares = ", ".join(
                    f"{route['destination']['host']}"
                    f"{'+' + route['destination']['subset'] if route['destination'].get('subset') else ''} "
                    f"{route.get('weight', 0)}/{total} = {100 * route.get('weight', 0) / total:.0f}%"
                    for route in routes
                )
                ctx.report(WEIGHTS_ARE_SHARES, item, f"the weights add up to {total}, not 100: each route gets its "
                           f"weight's share of the total ({shares})", "http", r, "route")


def peer_authentications(ctx: Context) -> None:
    """CLS0010: two class-wide PeerAuthentications (Istio keeps the oldest; which one that is depends on order)."""
    wide = [item for item in ctx.of_kind("PeerAuthentication") if not _labels(item.spec.get("selector"))]
    for item in wide[1:]:
        ctx.report(TWO_CLASS_WIDE_PEER_AUTHENTICATIONS, item, (
            f"PeerAuthentication {item.name} and {wide[0].name} both set the mode for the whole class: Istio "
            "uses the oldest and ignores the other, so keep one"))


def principals(ctx: Context) -> None:
    """CLS0008: a principal no ID card in class names (spiffe:// written, another trust domain, namespace, name)."""
    students = None if ctx.level is None else {s.name for s in ctx.level.students}
    for item in ctx.of_kind("AuthorizationPolicy"):
        for r, rule in enumerate(item.spec.get("rules") or []):
            for f, source in enumerate(rule.get("from") or []):
                for key in ("principals", "notPrincipals"):
                    for p, principal in enumerate((source.get("source") or {}).get(key) or []):
                        why = _principal_problem(str(principal), ctx.namespace if ctx.level else None, students)
                        if why:
                            ctx.report(PRINCIPAL_NAMES_NOBODY, item, f"{key} {principal!r} {why}",
                                       "rules", r, "from", f, "source", key, p)
            for w, condition in enumerate(rule.get("when") or []):
                if condition.get("key") == "source.principal":
                    for key in ("values", "notValues"):
                        for p, principal in enumerate(condition.get(key) or []):
                            why = _principal_problem(str(principal), ctx.namespace if ctx.level else None, students)
                            if why:
                                ctx.report(PRINCIPAL_NAMES_NOBODY, item, f"source.principal {principal!r} {why}",
                                           "rules", r, "when", w, key, p)


def _principal_problem(principal: str, namespace: str | None, students: set[str] | None) -> str | None:
    if "*" in principal:
        return None
    if principal.startswith("spiffe://"):
        return (f"never matches: Istio writes principals without spiffe:// ({principal[len('spiffe://'):]!r}), "
                "though the ID card says it")
    parts = principal.split("/")
    if len(parts) != 5 or parts[1] != "ns" or parts[3] != "sa":
        return "is not written as Istio writes a principal: classroom.local/ns/<level>/sa/<student>"
    if parts[0] != TRUST_DOMAIN:
        return f"names the trust domain {parts[0]!r}: every ID card in class is from {TRUST_DOMAIN}"
    if namespace is not None and parts[2] != namespace:
        return f"names the namespace {parts[2]!r}: the class is {namespace!r}, so no ID card says it"
    if students is not None and parts[4] not in students:
        return f"names {parts[4]!r}, who is not a student of this class, so no ID card says it"
    return None


def methods(ctx: Context) -> None:
    """CLS0011: a method a note cannot have (methods are in capitals, as HTTP writes them)."""
    for item in ctx.of_kind("AuthorizationPolicy"):
        for r, rule in enumerate(item.spec.get("rules") or []):
            for t, to in enumerate(rule.get("to") or []):
                operation = to.get("operation") or {}
                for key in ("methods", "notMethods"):
                    for m, method in enumerate(operation.get(key) or []):
                        if str(method) not in METHODS and "*" not in str(method):
                            ctx.report(METHOD_NEVER_MATCHES, item, _method_words(str(method), key),
                                       "rules", r, "to", t, "operation", key, m)
    for item in ctx.of_kind("VirtualService"):
        for r, rule in enumerate(item.spec.get("http") or []):
            for m, match in enumerate(rule.get("match") or []):
                exact = (match.get("method") or {}).get("exact")
                if exact is not None and str(exact) not in METHODS:
                    ctx.report(METHOD_NEVER_MATCHES, item, _method_words(str(exact), "method.exact"),
                               "http", r, "match", m, "method")


def _method_words(method: str, key: str) -> str:
    if method.upper() in METHODS:
        return f"{key} {method!r} never matches: a note's method is written in capitals ({method.upper()!r})"
    return f"{key} {method!r} never matches: no note has that method (notes use {', '.join(METHODS)})"
