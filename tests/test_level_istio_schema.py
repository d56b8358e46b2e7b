"""The game's Istio schema agrees with Istio's published API, type by type.

For every kind and every field the class accepts (walked from the schema itself, so a new field cannot go
untested), a resource in Istio's own shape loads, and the same resource with a value of the wrong type is
refused at the field's own line.  Every field Istio has and the class refuses is refused at its line with
"is not supported here:" and its reason.  Then the shapes Istio's API server rejects although the types are
right (ranges, oneofs, the webhook's rules between fields) are refused too, each with a sentence.

The field list was checked once against istio/api's CRD OpenAPI schemas (every CRD field is accepted or
refused; see docs/reference.md); these tests keep the schema honest from then on without the CRD file.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from classroom.level import LevelError, load_config, load_level
from classroom.level import istiovalues as v
from classroom.level.checks import _ListOf, _Map, _MapOf
from classroom.level.kinds import resolve
from classroom.level.schema import RESOURCE_KINDS
from classroom.level.yamlines import _parse_documents, line_of

ISTIO_KINDS = ("VirtualService", "DestinationRule", "PeerAuthentication", "AuthorizationPolicy")
Path_ = tuple[str, ...]  # "http", "[]", "retries", "attempts"; "{}" is a key of a _MapOf

# The smallest valid spec of each kind, and what a node needs around a field to be valid on its own.
BASE: dict[str, dict[str, Any]] = {
    "VirtualService": {"hosts": ["ben"], "http": [{"route": [{"destination": {"host": "ben"}}]}]},
    "DestinationRule": {"host": "ben"},
    "PeerAuthentication": {},
    "AuthorizationPolicy": {},
}
NEEDS: dict[Path_, dict[str, Any]] = {
    ("http", "[]"): {"route": [{"destination": {"host": "ben"}}]},
    ("http", "[]", "retries"): {"attempts": 1},
    ("http", "[]", "fault", "delay"): {"fixedDelay": "1s"},
    ("http", "[]", "fault", "abort"): {"httpStatus": 503},
    ("http", "[]", "route", "[]"): {"destination": {"host": "ben"}},
    ("http", "[]", "route", "[]", "destination"): {"host": "ben"},
    ("subsets", "[]"): {"name": "v1"},
    ("rules", "[]", "when", "[]"): {"key": "source.namespace", "values": ["tiny"]},
}
# A key for a map whose keys are the writer's.
MAP_KEYS = {"headers": "x-class", "withoutHeaders": "x-class", "matchLabels": "app", "labels": "version"}

# A good and a wrong-typed value for each of Istio's value types, with what the refusal says.
BY_READER: list[tuple[Any, Any, Any, str]] = [
    (v.DURATION, "2s", 2, "is a duration with its unit, written `"),
    (v.DURATION_OR_ZERO, "0ms", 5, "is a duration with its unit, written `"),
    (v.COUNT, 3, "3", "must be a whole number"),
    (v.UINT32, 3, 3.5, "must be a whole number"),
    (v.WHOLE_PERCENT, 50, "50%", "must be a whole number"),
    (v.http_status, 503, "503", "must be a whole number"),
    (v.percent_message, {"value": 10}, 10,
     "is Istio's Percent, a mapping with a value: write `percentage: {value: 10}`"),
    (v.plain_percent, 10, {"value": 10}, "is a number from 0 to 100, written `percent: 10`"),
    (v.boolean, True, "yes", "must be true or false"),
    (v.text, "main", 5, "must be text"),
    (v.nonempty_text, "ben", 5, "must be text"),
    (v.retry_on, "5xx,reset", 5, "must be text"),
    (v.dns_label, "v1", 1, "must be text"),
    (v.label_key, "version", None, ""),
    (v.label_value, "v1", 2, "must be text"),
]
# Fields whose good value depends on the class, and the leaf readers made by a factory.
GOOD: dict[Path_, Any] = {
    ("mtls", "mode"): "STRICT",
    ("action",): "ALLOW",
    ("trafficPolicy", "loadBalancer", "simple"): "LEAST_REQUEST",
    ("subsets", "[]", "trafficPolicy", "loadBalancer", "simple"): "ROUND_ROBIN",
    ("selector", "matchLabels", "{}"): "ben",
    ("rules", "[]", "when", "[]", "key"): "request.headers[x-class]",
    ("http", "[]", "route", "[]", "destination", "host"): "ben",
    ("hosts", "[]"): "ben",
    ("host",): "ben",
}
FACTORY_READERS = {  # leaves made by a factory: (good, wrong type, phrase)
    "string_match": ({"exact": "/note"}, "/note", "must be a mapping"),
    "enum": (None, 5, "must be one of"),
    "_path": ("/notes", 5, "must be text"),
    "when_key": (None, 5, "must be text"),
    "_destination_host": (None, 5, "must be text"),
    "_virtual_service_host": (None, 5, "must be text"),
    "_nonempty_list": (None, "x", "must be a list"),
}


def walk(spec: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every node of a spec below ``path``: each field of a _Map, each item of a list, each value of a map."""
    if isinstance(spec, _Map):
        for key, child in spec.fields.items():
            yield (*path, key), child
            yield from walk(child, (*path, key))
    elif isinstance(spec, _ListOf):
        yield (*path, "[]"), spec.item
        yield from walk(spec.item, (*path, "[]"))
    elif isinstance(spec, _MapOf):
        yield (*path, "{}"), spec.value
        yield from walk(spec.value, (*path, "{}"))
    elif getattr(spec, "__qualname__", "").startswith("_nonempty_list"):
        inner = spec.__closure__[0].cell_contents  # the list spec it wraps
        yield from walk(inner, path)


def refused_fields(spec: Any, path: Path_ = ()) -> Iterator[tuple[Path_, str]]:
    for node_path, node in [((), spec), *walk(spec, path)]:
        if isinstance(node, _Map):
            for key, why in node.refused.items():
                yield (*(node_path or path), key), why


def reader_name(spec: Any) -> str:
    return getattr(spec, "__qualname__", "").split(".")[0]


def example(path: Path_, spec: Any) -> tuple[Any, Any, str]:
    """(a good value, a value of the wrong type, what the refusal of the wrong one says) for a node."""
    if isinstance(spec, _Map):
        return copy.deepcopy(NEEDS.get(path, {})) or minimal(spec, path), "x", "must be a mapping"
    if isinstance(spec, _ListOf) or reader_name(spec) == "_nonempty_list":
        inner = spec if isinstance(spec, _ListOf) else spec.__closure__[0].cell_contents
        good_item, _, _ = example((*path, "[]"), inner.item)
        return [good_item], "x", "must be a list"
    if isinstance(spec, _MapOf):
        good_value, _, _ = example((*path, "{}"), spec.value)
        return {MAP_KEYS.get(path[-1], "app"): good_value}, ["x"], "must be a mapping"
    if path in GOOD:
        good = GOOD[path]
        for reader, _, bad, phrase in BY_READER:
            if reader is spec:
                return good, bad, phrase
        _, bad, phrase = FACTORY_READERS[reader_name(spec)]
        return good, bad, phrase
    for reader, good, bad, phrase in BY_READER:
        if reader is spec:
            return good, bad, phrase
    good, bad, phrase = FACTORY_READERS[reader_name(spec)]
    assert good is not None, f"give {path} a good value in GOOD"
    return good, bad, phrase


def minimal(spec: _Map, path: Path_) -> dict[str, Any]:
    """A _Map's smallest valid value: its required fields, or one field when it may not be empty."""
    body = {key: example((*path, key), spec.fields[key])[0] for key in spec.required}
    if spec.check is not None and not body:
        key = next(iter(spec.fields))
        body[key] = example((*path, key), spec.fields[key])[0]
    return body


def put(spec: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    """``spec`` with ``value`` at ``path``, creating (with what they need) the nodes on the way."""
    spec = copy.deepcopy(spec)
    node: Any = spec
    for depth, step in enumerate(path[:-1]):
        following = path[depth + 1]
        here = path[: depth + 1]
        if step == "[]":
            if not node:
                node.append(copy.deepcopy(NEEDS.get(here, {})))
            node = node[0]
            continue
        if step == "{}":
            raise AssertionError("a map's value is a leaf in these shapes")
        if step not in node or not isinstance(node[step], list | dict):
            node[step] = [] if following == "[]" else copy.deepcopy(NEEDS.get(here, {}))
        node = node[step]
    last = path[-1]
    if last == "[]":
        node[:] = [value]
    elif last == "{}":
        node[MAP_KEYS.get(path[-2], "app")] = value
    else:
        node[last] = value
    return spec


def resource_text(kind: str, spec: dict[str, Any]) -> str:
    resource = {"apiVersion": RESOURCE_KINDS[kind][0], "kind": kind, "metadata": {"name": "r"}, "spec": spec}
    return yaml.safe_dump([resource], sort_keys=False, default_flow_style=False)


def line_at(text: str, path: Path_) -> int:
    """The line of the node at ``path`` in the spec of the one resource in ``text``."""
    node: Any = _parse_documents("t.yaml", text)[0][0][0]["spec"]
    line = line_of(node)
    for step in path:
        key: Any = 0 if step == "[]" else step
        if step == "{}":
            key = next(iter(node))
        line = line_of(node, key, line)
        node = node[key]
    return line


def load(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    return load_config(str(path))


def refused(tmp_path: Path, text: str) -> LevelError:
    with pytest.raises(LevelError) as info:
        load(tmp_path, text)
    return info.value


def _spec(kind: str) -> _Map:
    found = resolve(kind, RESOURCE_KINDS[kind][0])
    assert found is not None
    return found.spec


def fields() -> list[tuple[str, Path_, Any]]:
    return [(kind, path, spec) for kind in ISTIO_KINDS for path, spec in walk(_spec(kind))]


def field_id(case: tuple[str, Path_, Any]) -> str:
    return f"{case[0]}.spec." + ".".join(case[1]).replace(".[]", "[]").replace(".{}", "{}")


# --------------------------------------------------------------------------- every field, its type


@pytest.mark.parametrize("case", fields(), ids=field_id)
def test_every_field_loads_in_istios_shape_and_refuses_the_wrong_type_at_its_line(
    tmp_path: Path, case: tuple[str, Path_, Any]
) -> None:
    kind, path, spec = case
    good, bad, phrase = example(path, spec)
    loaded = load(tmp_path, resource_text(kind, put(BASE[kind], path, good)))
    assert loaded[0]["kind"] == kind
    if bad is None:  # a label key: a wrong one is refused below (wildcards, syntax)
        return
    text = resource_text(kind, put(BASE[kind], path, bad))
    err = refused(tmp_path, text)
    assert err.line == line_at(text, path), str(err)
    assert phrase in err.message, str(err)


def test_the_walk_covers_every_kind_and_a_hundred_fields() -> None:
    assert {kind for kind, _, _ in fields()} == set(ISTIO_KINDS)
    assert len(fields()) > 100


# --------------------------------------------------------------------------- every refused field, its reason


def refusals() -> list[tuple[str, Path_, str]]:
    return [(kind, path, why) for kind in ISTIO_KINDS for path, why in refused_fields(_spec(kind))]


@pytest.mark.parametrize("case", refusals(), ids=lambda c: f"{c[0]}.spec." + ".".join(c[1]).replace(".[]", "[]"))
def test_every_field_istio_has_and_the_class_does_not_act_on_is_refused_at_its_line_with_why(
    tmp_path: Path, case: tuple[str, Path_, str]
) -> None:
    kind, path, why = case
    text = resource_text(kind, put(BASE[kind], path, {"any": "value"}))
    err = refused(tmp_path, text)
    dotted = "resources[0].spec." + ".".join(path).replace(".[]", "[0]")
    assert err.message == f"{dotted} is not supported here: {why}"
    assert err.line == line_at(text, path)
    assert why.endswith(tuple("abcdefghijklmnopqrstuvwxyz0123456789)}_'")), "a reason is one sentence, no stop"


def test_the_fields_the_issue_names_are_refused() -> None:
    listed = {(kind, ".".join(path)) for kind, path, _ in refusals()}
    for kind, dotted in [
        ("VirtualService", "gateways"), ("VirtualService", "tcp"), ("VirtualService", "tls"),
        ("VirtualService", "exportTo"), ("VirtualService", "http.[].mirror"), ("VirtualService", "http.[].headers"),
        ("VirtualService", "http.[].match.[].queryParams"), ("VirtualService", "http.[].retries.retryRemoteLocalities"),
        ("VirtualService", "http.[].route.[].destination.port"), ("VirtualService", "http.[].fault.abort.grpcStatus"),
        ("DestinationRule", "trafficPolicy.tls"), ("DestinationRule", "trafficPolicy.loadBalancer.consistentHash"),
        ("DestinationRule", "trafficPolicy.outlierDetection.outlierDetectionHttpErrorCodes"),
        ("DestinationRule", "workloadSelector"), ("PeerAuthentication", "portLevelMtls"),
        ("AuthorizationPolicy", "targetRefs"), ("AuthorizationPolicy", "provider"),
        ("AuthorizationPolicy", "rules.[].from.[].source.requestPrincipals"),
        ("AuthorizationPolicy", "rules.[].from.[].source.serviceAccounts"),
        ("AuthorizationPolicy", "rules.[].to.[].operation.ports"),
    ]:
        assert (kind, dotted) in listed, (kind, dotted)


# --------------------------------------------------------------------------- refused values


@pytest.mark.parametrize(
    "kind, path, value, phrase",
    [
        ("DestinationRule", ("trafficPolicy", "loadBalancer", "simple"), "PASSTHROUGH",
         "simple PASSTHROUGH is not supported here: there is no original destination"),
        ("AuthorizationPolicy", ("action",), "AUDIT", "action AUDIT is not supported here: the class keeps no audit"),
        ("AuthorizationPolicy", ("action",), "CUSTOM", "action CUSTOM is not supported here: there is no external"),
        ("VirtualService", ("http", "[]", "retries", "retryOn"), "5xx,envoy-ratelimited",
         "envoy-ratelimited is not supported here: nothing rate-limits notes"),
        ("VirtualService", ("http", "[]", "retries", "retryOn"), "retriable-4xx", "no note is ever answered 409"),
        ("VirtualService", ("http", "[]", "retries", "retryOn"), "deadline-exceeded", "notes are not gRPC calls"),
        ("VirtualService", ("http", "[]", "retries", "retryOn"), "retriable-headers", "no response headers"),
        ("VirtualService", ("http", "[]", "retries", "retryOn"), "http3-post-connect-failure", "no HTTP/3"),
        ("AuthorizationPolicy", ("rules", "[]", "when", "[]", "key"), "source.ip",
         "'source.ip' is not supported here: there are no IP addresses in class"),
        ("AuthorizationPolicy", ("rules", "[]", "when", "[]", "key"), "request.auth.claims[iss]", "no JWTs"),
        ("AuthorizationPolicy", ("rules", "[]", "when", "[]", "key"), "destination.port", "notes have no ports"),
        ("AuthorizationPolicy", ("rules", "[]", "when", "[]", "key"), "request.colour",
         "is not an attribute Istio knows; the class knows request.headers[<name>], source.principal, "
         "source.namespace"),
    ],
)
def test_values_istio_has_and_the_class_refuses(tmp_path: Path, kind: str, path: Path_, value: Any,
                                               phrase: str) -> None:
    text = resource_text(kind, put(BASE[kind], path, value))
    err = refused(tmp_path, text)
    assert phrase in err.message, str(err)
    assert err.line == line_at(text, path)


def test_every_retry_condition_a_note_can_fail_by_and_a_status_is_accepted(tmp_path: Path) -> None:
    for token in (*v.RETRY_ON, "503", "504"):
        load(tmp_path, resource_text("VirtualService", put(BASE["VirtualService"],
                                                           ("http", "[]", "retries", "retryOn"), token)))
    assert set(v.RETRY_ON) == {"5xx", "gateway-error", "reset", "connect-failure", "refused-stream",
                               "unavailable", "cancelled"}


def test_least_conn_is_istios_deprecated_alias_and_still_accepted(tmp_path: Path) -> None:
    for simple in ("ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "UNSPECIFIED", "LEAST_CONN"):
        load(tmp_path, resource_text("DestinationRule", put(BASE["DestinationRule"],
                                                            ("trafficPolicy", "loadBalancer", "simple"), simple)))


# --------------------------------------------------------------------------- shapes Istio rejects


REJECTED: list[tuple[str, str, Path_, Any, str]] = [
    # (what, kind, path, value, phrase)
    ("duration below 1ms", "VirtualService", ("http", "[]", "retries", "perTryTimeout"), "0s", "at least 1ms"),
    ("duration not in whole ms", "VirtualService", ("http", "[]", "timeout"), "1500us", "whole milliseconds"),
    ("duration without unit as text", "VirtualService", ("http", "[]", "timeout"), "10",
     "Istio reads '10' without a unit as no duration"),
    ("duration in words", "DestinationRule", ("trafficPolicy", "outlierDetection", "interval"), "2 minutes",
     "'2 minutes' is not a duration"),
    ("negative duration", "VirtualService", ("http", "[]", "retries", "backoff"), "-1s", "at least 1ms"),
    ("Percent above 100", "VirtualService", ("http", "[]", "fault", "abort", "percentage"), {"value": 150},
     "must be between 0 and 100"),
    ("Percent below 0.0001", "VirtualService", ("http", "[]", "fault", "delay", "percentage"), {"value": 0.00001},
     "must be 0, or from 0.0001 to 100"),
    ("retryBudget.percent above 100", "DestinationRule", ("trafficPolicy", "retryBudget", "percent"), 120,
     "must be between 0 and 100"),
    ("httpStatus below 200", "VirtualService", ("http", "[]", "fault", "abort", "httpStatus"), 150,
     "must be between 200 and 599"),
    ("httpStatus above 599", "VirtualService", ("http", "[]", "fault", "abort", "httpStatus"), 600,
     "must be between 200 and 599"),
    ("maxEjectionPercent above 100", "DestinationRule", ("trafficPolicy", "outlierDetection", "maxEjectionPercent"),
     101, "must be between 0 and 100"),
    ("negative attempts", "VirtualService", ("http", "[]", "retries", "attempts"), -1, "must be between 0 and"),
    ("negative weight", "VirtualService", ("http", "[]", "route", "[]", "weight"), -5, "must be between 0 and"),
    ("int32 overflow", "DestinationRule", ("trafficPolicy", "connectionPool", "tcp", "maxConnections"), 2**31,
     "must be between 0 and 2147483647"),
    ("retryOn with spaces", "VirtualService", ("http", "[]", "retries", "retryOn"), "5xx, reset",
     "without spaces ('5xx,reset')"),
    ("retryOn empty condition", "VirtualService", ("http", "[]", "retries", "retryOn"), "5xx,", "empty condition"),
    ("retryOn unknown status", "VirtualService", ("http", "[]", "retries", "retryOn"), "599",
     "'599' is not a retry condition"),
    ("StringMatch with two", "VirtualService", ("http", "[]", "match", "[]", "uri"), {"exact": "/a", "prefix": "/"},
     "has both exact and prefix"),
    ("StringMatch with none", "VirtualService", ("http", "[]", "match", "[]", "headers", "{}"), {},
     "needs one of exact, prefix or regex"),
    ("empty prefix", "VirtualService", ("http", "[]", "match", "[]", "method"), {"prefix": ""}, "empty prefix"),
    ("regex with lookahead", "VirtualService", ("http", "[]", "match", "[]", "uri"), {"regex": "/a(?!b)"},
     "which Istio's regular expressions (RE2) do not have"),
    ("regex with backreference", "VirtualService", ("http", "[]", "match", "[]", "uri"), {"regex": r"(a)\1"},
     "backreferences"),
    ("broken regex", "VirtualService", ("http", "[]", "match", "[]", "uri"), {"regex": "(a"},
     "is not a regular expression"),
    ("uppercase header", "VirtualService", ("http", "[]", "match", "[]", "withoutHeaders"), {"X-Late": {"exact": "y"}},
     "write 'x-late'"),
    ("pseudo-header", "VirtualService", ("http", "[]", "match", "[]", "headers"), {":method": {"exact": "GET"}},
     "match the note's path with uri and its method with method"),
    ("subset not a DNS label", "VirtualService", ("http", "[]", "route", "[]", "destination", "subset"), "V_1",
     "is not a valid name"),
    ("label key with a wildcard", "DestinationRule", ("subsets", "[]", "labels"), {"ver*": "v1"}, "no wildcards"),
    ("label value with a wildcard", "PeerAuthentication", ("selector", "matchLabels"), {"app": "b*"},
     "no wildcards"),
    ("empty principal", "AuthorizationPolicy", ("rules", "[]", "from", "[]", "source", "principals"), [""],
     "Istio refuses an empty value here"),
    ("empty from", "AuthorizationPolicy", ("rules", "[]", "from"), [], "is an empty list: Istio refuses it"),
    ("empty source", "AuthorizationPolicy", ("rules", "[]", "from", "[]", "source"), {},
     "Istio refuses an empty source"),
    ("empty operation", "AuthorizationPolicy", ("rules", "[]", "to", "[]", "operation"), {},
     "Istio refuses an empty operation"),
    ("path template", "AuthorizationPolicy", ("rules", "[]", "to", "[]", "operation", "paths"), ["/notes/{*}"],
     "is a path template"),
    ("condition without values", "AuthorizationPolicy", ("rules", "[]", "when", "[]"), {"key": "source.namespace"},
     "needs values or notValues"),
    ("host * in a mesh VirtualService", "VirtualService", ("hosts",), ["*"], "Istio refuses '*'"),
    ("host * as a destination", "VirtualService", ("http", "[]", "route", "[]", "destination", "host"), "*",
     "Istio refuses '*' as a route's destination"),
]


@pytest.mark.parametrize("what, kind, path, value, phrase", REJECTED, ids=[r[0] for r in REJECTED])
def test_a_shape_istio_rejects_is_refused_with_a_sentence(
    tmp_path: Path, what: str, kind: str, path: Path_, value: Any, phrase: str
) -> None:
    text = resource_text(kind, put(BASE[kind], path, value))
    err = refused(tmp_path, text)
    assert phrase in err.message, str(err)
    assert err.line in lines_of(text, path, value), str(err)  # at the field, or inside its value


def lines_of(text: str, path: Path_, value: Any) -> range:
    first = line_at(text, path)
    return range(first, first + len(yaml.safe_dump(value, default_flow_style=False).splitlines()) + 1)


RULES: list[tuple[str, str, dict[str, Any], str]] = [
    ("a rule without a route", "VirtualService", {"hosts": ["ben"], "http": [{"timeout": "1s"}]},
     "has no route: Istio needs every http rule to say where its notes go"),
    ("no http rules", "VirtualService", {"hosts": ["ben"], "http": []}, "has no http rules"),
    ("a host twice", "VirtualService", {"hosts": ["ben", "ben"], **{"http": BASE["VirtualService"]["http"]}},
     "is already hosts[0]"),
    ("weights that add up to 0", "VirtualService", {"hosts": ["ben"], "http": [{"route": [
        {"destination": {"host": "ben", "subset": "a"}, "weight": 0},
        {"destination": {"host": "ben", "subset": "b"}, "weight": 0}]}]}, "add up to 0"),
    ("attempts 0 with a per-try timeout", "VirtualService", {"hosts": ["ben"], "http": [{
        "retries": {"attempts": 0, "perTryTimeout": "1s"}, **BASE["VirtualService"]["http"][0]}]},
     "Istio refuses a retry policy whose attempts are 0"),
    ("an empty fault", "VirtualService",
     {"hosts": ["ben"], "http": [{"fault": {}, **BASE["VirtualService"]["http"][0]}]}, "a fault needs delay or abort"),
    ("a delay without fixedDelay", "VirtualService", {"hosts": ["ben"], "http": [{
        "fault": {"delay": {"percentage": {"value": 5}}}, **BASE["VirtualService"]["http"][0]}]},
     "is missing 'fixedDelay'"),
    ("an empty traffic policy", "DestinationRule", {"host": "ben", "trafficPolicy": {}}, "Istio refuses an empty one"),
    ("an empty connection pool", "DestinationRule", {"host": "ben", "trafficPolicy": {"connectionPool": {}}},
     "a connection pool needs tcp or http"),
    ("two subsets of one name", "DestinationRule", {"host": "ben", "subsets": [{"name": "v1"}, {"name": "v1"}]},
     "there is already a subset named 'v1'"),
    ("a DENY policy without rules", "AuthorizationPolicy", {"action": "DENY"}, "a DENY policy without rules"),
]


@pytest.mark.parametrize("what, kind, spec, phrase", RULES, ids=[r[0] for r in RULES])
def test_the_webhooks_rules_between_fields(tmp_path: Path, what: str, kind: str, spec: dict[str, Any],
                                           phrase: str) -> None:
    assert phrase in refused(tmp_path, resource_text(kind, spec)).message


def test_a_namespace_other_than_the_levels_is_refused(tmp_path: Path) -> None:
    level = load_level("01-first-note")
    resource = {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                "metadata": {"name": "default", "namespace": "istio-system"}, "spec": {"mtls": {"mode": "STRICT"}}}
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump([resource]))
    with pytest.raises(LevelError, match="is not this class's namespace: the class is one namespace, 'first-note'"):
        load_config(str(path), level)
    resource["metadata"]["namespace"] = "first-note"
    path.write_text(yaml.safe_dump([resource]))
    assert load_config(str(path), level)


def test_the_reference_gives_every_refusal_its_reason() -> None:
    """docs/reference.md's field tables say why, in the words the loader uses."""
    reference = (Path(__file__).resolve().parent.parent / "docs" / "reference.md").read_text()
    reasons = {why for _, _, why in refusals()} | set(v.RETRY_ON_REFUSED.values())
    missing = sorted(why for why in reasons if why not in reference)
    assert missing == []
