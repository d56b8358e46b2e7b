"""Consul's intentions as a user meets them: the shapes the loader takes and refuses, Consul's precedence
and default, and a real round where a denied source's notes are refused at the destination's desk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import level_doc

from classroom.level import LevelError, load_level
from classroom.mesh.control import pki
from classroom.mesh.control.compile import mesh_policy
from classroom.mesh.control.intentions import Intentions, intentions_from
from classroom.mesh.control.policy import MeshPolicy
from classroom.mesh.control.request import Operation
from classroom.mesh.runtime.round import Round, wait_gone
from classroom.report import build_report

CONSUL = "consul.hashicorp.com/v1alpha1"


def intentions(destination: str, *sources: dict[str, Any], name: str = "rules") -> dict[str, Any]:
    return {"apiVersion": CONSUL, "kind": "ServiceIntentions", "metadata": {"name": name},
            "spec": {"destination": {"name": destination}, "sources": list(sources)}}


def acl(default: str, enabled: bool = True) -> dict[str, Any]:
    return {"apiVersion": "classroom.mesh/v1", "kind": "ConsulACL", "metadata": {"name": "acl"},
            "spec": {"enabled": enabled, "defaultPolicy": default}}


def compiled(*resources: dict[str, Any]) -> Intentions:
    found = intentions_from(resources, "rules")
    assert found is not None
    return found


def consul_level(write_level: Any, resources: list[dict[str, Any]], **extra: Any) -> Path:
    doc = level_doc(**extra)
    doc["mesh"] = {"profile": "consul", "resources": resources}
    return write_level(doc)


def refusal(write_level: Any, resources: list[dict[str, Any]], marker: str, occurrence: int = 1) -> str:
    path = consul_level(write_level, resources)
    lines = path.read_text().splitlines()
    mesh = lines.index("mesh:")  # the marker is looked for among the resources, not the students
    line = [i for i, text in enumerate(lines, 1) if i > mesh and marker in text][occurrence - 1]
    with pytest.raises(LevelError) as caught:
        load_level(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert "\n" not in message
    return message


POST = Operation("/note", "POST")

# --- precedence and the default ----------------------------------------------------------------------


def test_exact_beats_wildcard_whatever_the_order_written() -> None:
    for sources in ([{"name": "*", "action": "allow"}, {"name": "gus", "action": "deny"}],
                    [{"name": "gus", "action": "deny"}, {"name": "*", "action": "allow"}]):
        rules = compiled(intentions("fay", *sources))
        denied = rules.decide("gus", "fay", POST)
        assert not denied.allowed and denied.reason == "intention gus => fay (deny)"
        assert denied.policy == "rules/rules"
        assert rules.decide("alice", "fay", POST).allowed


def test_an_exact_destination_beats_a_wildcard_one() -> None:
    rules = compiled(intentions("*", {"name": "gus", "action": "deny"}, name="nobody-from-gus"),
                     intentions("fay", {"name": "*", "action": "allow"}, name="fay-takes-all"))
    assert [i.precedence for i in rules.entries] == [6, 8]
    assert rules.decide("gus", "fay", POST).allowed  # * => fay (8) outranks gus => * (6)
    assert not rules.decide("gus", "dev", POST).allowed  # only gus => * fits


@pytest.mark.parametrize(("resources", "allowed", "words"), [
    ((), True, None),  # no ACL, no intention: everything allowed, nothing to decide
    ((acl("deny", enabled=False),), True, None),  # ACLs off: the default policy is not consulted
    ((acl("allow"),), True, None),
    ((acl("deny"),), False, "no intention alice => fay: default_policy deny"),
])
def test_a_pair_no_intention_names_gets_the_acl_default(resources: tuple[dict[str, Any], ...], allowed: bool,
                                                         words: str | None) -> None:
    found = intentions_from(resources, "rules")
    if words is None:
        assert found is None and allowed
        return
    assert found is not None
    decision = found.decide("alice", "fay", POST)
    assert decision.allowed is allowed and decision.reason == words


def test_permissions_first_match_decides_and_unmatched_requests_get_the_default_not_the_wildcard() -> None:
    rules = compiled(acl("deny"), intentions(
        "penny", {"name": "*", "action": "allow"},
        {"name": "gus", "permissions": [{"action": "deny", "http": {"pathPrefix": "/gossip"}},
                                        {"action": "allow", "http": {"pathExact": "/homework",
                                                                     "methods": ["POST"]}}]}))
    assert not rules.decide("gus", "penny", Operation("/gossip/ben", "POST")).allowed
    assert rules.decide("gus", "penny", Operation("/homework", "POST")).allowed
    late = rules.decide("gus", "penny", Operation("/homework", "GET"))  # no permission: default, not *
    assert not late.allowed and "no permission matches GET /homework" in late.reason
    assert rules.decide("alice", "penny", Operation("/gossip", "POST")).allowed


def test_header_permissions_and_a_card_less_neighbour() -> None:
    rules = compiled(acl("deny"), intentions("fay", {"name": "alice", "permissions": [
        {"action": "allow", "http": {"header": [{"name": "X-Class", "exact": "5b"},
                                                {"name": "x-late", "present": True, "invert": True}]}}]}))
    assert rules.decide("alice", "fay", Operation("/", "POST", (("x-class", "5b"),))).allowed
    assert not rules.decide("alice", "fay", Operation("/", "POST", (("x-class", "5b"), ("x-late", "1")))).allowed
    assert not rules.decide(None, "fay", POST).allowed  # no ID card, no source service


def test_the_policy_carries_intentions_over_the_wire_only_under_consul() -> None:
    resources = (acl("deny"), intentions("fay", {"name": "gus", "action": "allow"}))
    policy = mesh_policy(resources, "consul", "rules")
    assert MeshPolicy.from_json(policy.to_json()).intentions == policy.intentions
    assert policy.intentions is not None and not policy.intentions.default_allow
    assert mesh_policy((), "consul").intentions is None


def test_consul_s_id_cards_name_the_service_in_dc1_and_the_other_meshes_keep_theirs() -> None:
    consul = pki.spiffe_id("good-intentions", "gus", "consul")
    assert consul == "spiffe://classroom.consul/ns/default/dc/dc1/svc/gus" and pki.student_of(consul) == "gus"
    istio = pki.spiffe_id("good-intentions", "gus")
    assert istio == "spiffe://classroom.local/ns/good-intentions/sa/gus" and pki.student_of(istio) == "gus"


# --- the loader: shapes and refusals at their line ------------------------------------------------------


def test_the_level_s_intentions_load(write_level: Any) -> None:
    level = load_level(str(consul_level(write_level, [acl("deny"), intentions(
        "fay", {"name": "*", "action": "allow"},
        {"name": "gus", "permissions": [{"action": "deny", "http": {"pathRegex": "/g.*", "methods": ["GET"]}}]})])))
    assert [r["kind"] for r in level.resources] == ["ConsulACL", "ServiceIntentions"]


@pytest.mark.parametrize(("source", "marker", "words"), [
    ({"name": "gus", "action": "allow", "permissions": [{"action": "deny", "http": {"pathPrefix": "/x"}}]},
     "name: gus", "action and permissions are mutually exclusive"),
    ({"name": "gus"}, "name: gus", "needs an action (allow or deny) or permissions"),
    ({"name": "gus", "action": "Allow"}, "action: Allow", "Consul writes actions in lowercase"),
    ({"name": "gus", "action": "allow", "namespace": "other"}, "namespace: other", "one Consul namespace"),
    ({"name": "gus", "action": "allow", "peer": "cluster-2"}, "peer: cluster-2", "no peers"),
    ({"name": "gus", "permissions": [{"action": "allow", "http": {"pathPrefix": "notes"}}]},
     "pathPrefix: notes", "must begin with a '/'"),
    ({"name": "gus", "permissions": [{"action": "allow", "http": {"pathExact": "/a", "pathPrefix": "/b"}}]},
     "http:", "at most one of pathExact, pathPrefix or pathRegex"),
    ({"name": "gus", "permissions": [{"action": "allow", "http": {"methods": ["FETCH"]}}]},
     "- FETCH", "not an HTTP method Consul knows"),
    ({"name": "gus", "permissions": [{"action": "allow", "http": {"header": [{"name": "x-a"}]}}]},
     "name: x-a", "needs exactly one of present, exact, prefix, suffix, regex"),
    ({"name": "zed", "action": "deny"}, "name: zed", "'zed' is not a service of this level"),
    ({"name": "gus", "permissions": [{"action": "allow", "http": {"pathRegex": "/(?=x)"}}]},
     "pathRegex", "which Envoy's regular expressions (RE2) do not have"),
])
def test_a_wrong_source_is_refused_at_its_line(write_level: Any, source: dict[str, Any], marker: str,
                                              words: str) -> None:
    assert words in refusal(write_level, [intentions("fay", source)], marker)


def test_a_source_named_twice_is_refused(write_level: Any) -> None:
    message = refusal(write_level, [intentions("fay", {"name": "gus", "action": "allow"},
                                               {"name": "eli", "action": "allow"},
                                               {"name": "gus", "action": "deny"})], "name: gus", 2)
    assert "names 'gus' a second time" in message and "only one intention controls" in message


def test_istio_s_authorization_policy_is_refused_saying_what_consul_does(write_level: Any) -> None:
    policy = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": {"name": "p"},
              "spec": {"action": "DENY", "rules": [{}]}}
    message = refusal(write_level, [policy], "kind: AuthorizationPolicy")
    assert ("AuthorizationPolicy (security.istio.io) is not a consul resource; consul does this with a "
            "ServiceIntentions (consul.hashicorp.com/v1alpha1)") in message


def test_consul_s_kinds_are_refused_under_istio(write_level: Any) -> None:
    doc = level_doc()
    doc["mesh"]["resources"].append(intentions("fay", {"name": "gus", "action": "deny"}))
    path = write_level(doc)
    with pytest.raises(LevelError, match=r"ServiceIntentions \(consul.hashicorp.com\) is Consul's, and istio has"):
        load_level(str(path))


# --- a real round -----------------------------------------------------------------------------------------


@pytest.mark.timeout(180)
async def test_a_denied_source_s_notes_are_refused_at_the_destination_s_desk(write_level: Any) -> None:
    # A deny-by-default class: alice may write to ben, gus's intention denies him; no intention for
    # cara, so the default decides.  Every note crosses one pass: alice, gus and cara each sit by ben.
    traffic = [{"from": "alice", "to": "ben", "count": 4, "every": "10ms", "text": "hi"},
               {"from": "gus", "to": "ben", "count": 3, "every": "10ms", "text": "psst"},
               {"from": "cara", "to": "ben", "count": 2, "every": "10ms", "text": "hello"}]
    path = consul_level(write_level, [acl("deny"), intentions(
        "ben", {"name": "gus", "action": "deny"}, {"name": "alice", "action": "allow"}, name="ben-s-notes")],
        traffic=traffic, room={"rows": 2, "cols": 6, "passing_time": "0ms",
                               "links": [["alice", "ben"], ["gus", "ben"], ["cara", "ben"]]})
    doc = yaml.safe_load(path.read_text())
    doc["students"] = [s for s in doc["students"] if s["name"] in ("alice", "ben", "cara", "gus")]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    level = load_level(str(path))
    round_ = Round(level, level.resources, seed=level.seed)
    result = await round_.run()
    assert wait_gone(round_.pids()) == []
    report = build_report(level, level.seed, result.events, result.processes)
    outcomes = {r["note"]: r for r in result.events if r.get("kind") == "result"}
    assert all(outcomes[f"alice>ben#{i}"]["state"] == "delivered" for i in range(1, 5))
    for note in [f"gus>ben#{i}" for i in range(1, 4)] + [f"cara>ben#{i}" for i in range(1, 3)]:
        assert outcomes[note]["state"] == "failed" and outcomes[note]["cause"] == "denied", outcomes[note]
    denials = [e for e in result.events if e.get("kind") == "policy_denied"]
    assert {d["hand"] for d in denials} == {"ben"}
    by_source = {d["src_identity"].rsplit("/", 1)[-1]: d for d in denials}
    assert by_source["gus"]["reason"] == "intention gus => ben (deny)"
    assert by_source["gus"]["src_identity"] == "spiffe://classroom.consul/ns/default/dc/dc1/svc/gus"  # Consul's form
    assert by_source["gus"]["dst_identity"] == "spiffe://classroom.consul/ns/default/dc/dc1/svc/ben"
    assert by_source["gus"]["policy"] == "test-row/ben-s-notes"
    assert by_source["cara"]["reason"] == "no intention cara => ben: default_policy deny"
    assert report["ledger_ok"]


def test_a_second_entry_for_one_destination_is_refused(write_level: Any) -> None:
    message = refusal(write_level, [intentions("fay", {"name": "gus", "action": "deny"}, name="one"),
                                    intentions("fay", {"name": "eli", "action": "allow"}, name="two")],
                      "- apiVersion: consul.hashicorp.com/v1alpha1", 2)
    assert "is a second ServiceIntentions for the destination 'fay'" in message and "one per destination" in message
