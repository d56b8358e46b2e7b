"""The office's translation of the resources into the proxies' policy: rules, matches, subsets, modes."""

from __future__ import annotations

import json
from typing import Any

from classroom.mesh.control.compile import mesh_policy
from classroom.mesh.control.policy import LEAST_REQUEST, MeshPolicy
from classroom.mesh.control.request import Operation


def vs(host: str, *http: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": host},
            "spec": {"hosts": [host], "http": list(http)}}


def dr(host: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": host},
            "spec": {"host": host, **spec}}


def pa(mode: str, name: str = "default", **selector: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"mtls": {"mode": mode}}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": {"name": name},
            "spec": spec}


def test_every_http_rule_counts_in_order_and_the_first_that_matches_takes_the_note() -> None:
    policy = mesh_policy([vs("dana",
                             {"name": "jason", "match": [{"headers": {"end-user": {"exact": "jason"}}}],
                              "route": [{"destination": {"host": "dana", "subset": "v2"}}]},
                             {"name": "quiz", "match": [{"uri": {"prefix": "/quiz"}, "method": {"exact": "GET"}}],
                              "timeout": "2s"},
                             {"name": "rest", "timeout": "9s"})])
    jason = policy.rule("dana", Operation("/note", "POST", (("End-User", "jason"),)))  # header names: any case
    assert jason is not None and jason.name == "jason" and jason.route[0].subset == "v2"
    quiz = policy.rule("dana", Operation("/quiz/3", "GET"))
    assert quiz is not None and quiz.name == "quiz" and policy.note_timeout(quiz) == 2.0
    post_quiz = policy.rule("dana", Operation("/quiz/3", "POST"))  # every condition of a match must hold
    assert post_quiz is not None and post_quiz.name == "rest" and policy.note_timeout(post_quiz) == 9.0


def test_a_virtual_service_whose_rules_all_miss_gives_no_route_while_a_host_without_one_has_the_default() -> None:
    policy = mesh_policy([vs("dana", {"match": [{"uri": {"exact": "/only"}}]})])
    assert policy.rule("dana", Operation("/note")) is None
    default = policy.rule("ben")
    assert default is not None and policy.retries(default).attempts == 2  # Istio's hidden default retries


def test_uri_matches_exact_prefix_regex_and_ignore_case() -> None:
    policy = mesh_policy([vs("dana", {"name": "r", "match": [{"uri": {"regex": "/q[0-9]+"}},
                                                              {"uri": {"exact": "/Help"}, "ignoreUriCase": True}]},
                             {"name": "other"})])
    assert policy.rule("dana", Operation("/q12")).name == "r"  # type: ignore[union-attr]
    assert policy.rule("dana", Operation("/q12x")).name == "other"  # type: ignore[union-attr]  # regex: the whole uri
    assert policy.rule("dana", Operation("/hElp")).name == "r"  # type: ignore[union-attr]


def test_without_headers_excludes_the_notes_that_carry_them() -> None:
    policy = mesh_policy([vs("dana", {"name": "anonymous", "match": [{"withoutHeaders": {"end-user": {}}}]},
                             {"name": "signed"})])
    assert policy.rule("dana", Operation()).name == "anonymous"  # type: ignore[union-attr]
    assert policy.rule("dana", Operation(headers=(("end-user", "x"),))).name == "signed"  # type: ignore[union-attr]


def test_a_rule_with_a_fault_has_no_retries_and_no_timeout_of_its_own() -> None:
    policy = mesh_policy([vs("dana", {"timeout": "1s", "retries": {"attempts": 5},
                                      "fault": {"delay": {"percentage": {"value": 100}, "fixedDelay": "3s"}}})])
    rule = policy.rule("dana")
    assert rule is not None and rule.fault is not None and rule.fault.delay == 3.0
    assert policy.retries(rule).attempts == 0
    assert policy.note_timeout(rule) == 15.0  # the game's own lifetime of a note, not the rule's 1s


def test_retries_backoff_and_ignoring_previous_hosts() -> None:
    policy = mesh_policy([vs("dana", {"retries": {"attempts": 3, "backoff": "200ms",
                                                  "retryIgnorePreviousHosts": False}})])
    retries = policy.retries(policy.rule("dana"))
    assert retries.backoff == 0.2 and retries.ignore_previous_hosts is False
    assert policy.retries(mesh_policy([vs("ben", {"retries": {"attempts": 1}})]).rule("ben")).ignore_previous_hosts


def test_a_subset_s_traffic_policy_overrides_its_host_s_field_by_field() -> None:
    policy = mesh_policy([dr("dana", trafficPolicy={"loadBalancer": {"simple": "ROUND_ROBIN"},
                                                    "outlierDetection": {"consecutive5xxErrors": 3}},
                             subsets=[{"name": "v2", "labels": {"version": "v2"},
                                       "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 1},
                                                                            "http": {"http1MaxPendingRequests": 2}}}},
                                      {"name": "v1", "labels": {"version": "v1"}}])])
    host, v2 = policy.traffic("dana"), policy.traffic("dana", "v2")
    assert host.pool is None and host.load_balancer == "ROUND_ROBIN"
    assert v2.pool is not None and v2.pool.limit == 1 and v2.pool.max_pending == 2
    assert v2.load_balancer == "ROUND_ROBIN" and v2.outlier is not None and v2.outlier.consecutive_errors == 3
    assert policy.traffic("dana", "v1") == host  # a subset without a policy of its own has the host's
    assert policy.destination("dana").subsets["v2"].labels == {"version": "v2"}


def test_least_conn_is_least_request_and_unspecified_is_istio_s_default() -> None:
    assert mesh_policy([dr("d", trafficPolicy={"loadBalancer": {"simple": "LEAST_CONN"}})]).traffic(
        "d").load_balancer == LEAST_REQUEST
    assert mesh_policy([dr("d", trafficPolicy={"loadBalancer": {"simple": "UNSPECIFIED"}})]).traffic(
        "d").load_balancer is None


def test_a_workload_s_peer_authentication_beats_the_class_wide_one() -> None:
    policy = mesh_policy([pa("STRICT"), pa("DISABLE", "ben-plain", app="ben"), pa("UNSET", "cara", app="cara")])
    assert policy.mode_for({"app": "alice"}) == "STRICT"
    assert policy.mode_for({"app": "ben"}) == "DISABLE"
    assert policy.mode_for({"app": "cara"}) == "PERMISSIVE"  # UNSET is treated as PERMISSIVE
    assert mesh_policy([]).mode_for({"app": "x"}) == "PERMISSIVE"


def test_outlier_detection_and_the_budget_read_all_their_fields() -> None:
    traffic = mesh_policy([dr("d", trafficPolicy={
        "outlierDetection": {"consecutiveGatewayErrors": 2, "interval": "5s", "minHealthPercent": 50},
        "retryBudget": {"percent": 10, "budgetInterval": "1s"},
        "connectionPool": {"http": {"maxRetries": 4, "maxRequestsPerConnection": 1}}})]).traffic("d")
    assert traffic.outlier is not None and traffic.budget is not None and traffic.pool is not None
    assert (traffic.outlier.gateway_errors, traffic.outlier.interval, traffic.outlier.min_health_percent) == (2, 5, 50)
    assert traffic.outlier.consecutive_errors == 5  # Istio's default, also when gateway errors are set
    assert (traffic.budget.percent, traffic.budget.budget_interval) == (10.0, 1.0)
    assert (traffic.pool.max_retries, traffic.pool.max_requests_per_connection) == (4, 1)


def test_the_policy_crosses_the_wire_whole() -> None:
    resources = [
        pa("STRICT"), pa("PERMISSIVE", "eli", app="eli"),
        vs("dana", {"match": [{"headers": {"x": {"prefix": "a"}}}], "retries": {"attempts": 1, "backoff": "1s"}},
           {"fault": {"abort": {"percentage": {"value": 10}, "httpStatus": 500}}}),
        dr("dana", trafficPolicy={"connectionPool": {"tcp": {"maxConnections": 2}}},
           subsets=[{"name": "v2", "labels": {"version": "v2"},
                     "trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 1}}}]),
        {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": {"name": "p"},
         "spec": {"rules": [{"to": [{"operation": {"paths": ["/a*"]}}],
                             "when": [{"key": "request.headers[x]", "values": ["1"]}]}]}},
    ]
    policy = mesh_policy(resources, namespace="ns")
    assert MeshPolicy.from_json(json.loads(json.dumps(policy.to_json()))) == policy
