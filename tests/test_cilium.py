"""Cilium's own configuration: CiliumNetworkPolicy's shape and refusals, its semantics, and where it is enforced.

The shape is checked as a level loads it (one line at the field's place); the
semantics are pure (:mod:`classroom.mesh.control.cilium`); the enforcement is
a real round: the aisles (the room network) turn away a connection the policy
does not allow, so the note never reaches a proxy, and the row's proxy refuses
a note no ``rules.http`` allows.  A killed row proxy takes its whole row down.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from classroom.level import LevelError, load_level
from classroom.mesh.control import cilium
from classroom.mesh.control.compile import mesh_policy
from classroom.mesh.control.request import Operation
from classroom.mesh.runtime.round import Round, wait_gone
from classroom.report import build_report

EVENT_LIMIT = 60.0
STUDENTS = {"alice": [0, 0], "ben": [0, 1], "penny": [0, 2], "cara": [1, 2], "dev": [1, 0]}


def cnp(spec: dict[str, Any], name: str = "p") -> dict[str, Any]:
    return {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": name}, "spec": spec}


def level_text(resources: list[dict[str, Any]], profile: str = "cilium",
               traffic: list[dict[str, Any]] | None = None) -> str:
    doc = {
        "apiVersion": "classroom.mesh/v1", "kind": "Level",
        "metadata": {"name": "cilium-test", "title": "Cilium test"}, "seed": 3,
        "room": {"rows": 2, "cols": 3, "passing_time": "0ms", "links": "neighbours"},
        "students": [{"name": n, "seat": s} for n, s in STUDENTS.items()],
        "traffic": traffic if traffic is not None else [
            {"from": "alice", "to": "penny", "count": 4, "every": "20ms", "text": "homework?"}],
        "mesh": {"profile": profile, "resources": resources},
        "objectives": [{"metric": "ledger_ok", "op": "==", "value": 1}],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def load(tmp_path: Path, resources: list[dict[str, Any]], **kw: Any) -> Any:
    path = tmp_path / "level.yaml"
    path.write_text(level_text(resources, **kw))
    return load_level(str(path))


def refusal(tmp_path: Path, resources: list[dict[str, Any]], **kw: Any) -> LevelError:
    with pytest.raises(LevelError) as info:
        load(tmp_path, resources, **kw)
    return info.value


def line_of(tmp_path: Path, needle: str) -> int:
    lines = (tmp_path / "level.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


PENNY = {"matchLabels": {"app": "penny"}}
FROM_BEN = {"fromEndpoints": [{"matchLabels": {"app": "ben"}}]}


# --------------------------------------------------------------------------- shapes and refusals

def test_a_policy_in_cilium_shape_loads_and_compiles(tmp_path: Path) -> None:
    rule = {**FROM_BEN, "toPorts": [{"rules": {"http": [{"method": "GET", "path": "/homework"}]}}]}
    level = load(tmp_path, [cnp({"endpointSelector": PENNY, "ingress": [rule],
                                 "egress": [{"toEndpoints": [{"matchLabels": {"app": "ben"}}]}],
                                 "description": "penny's door"})])
    (policy,) = mesh_policy(level.resources, "cilium", level.name).network
    assert policy.name == "cilium-test/p" and policy.enforces_ingress and policy.enforces_egress
    assert policy.ingress[0].http == (cilium.HttpRule("GET", "/homework"),)


@pytest.mark.parametrize(("rule", "field", "words"), [
    ({"fromCIDR": ["10.0.0.0/8"]}, "fromCIDR", "no IP addresses, CIDRs or DNS names in class"),
    ({"fromEntities": ["world"]}, "fromEntities", "no hosts, nodes or world"),
    ({"fromEndpoints": [{"matchExpressions": [{"key": "app", "operator": "In", "values": ["ben"]}]}]},
     "matchExpressions", "matches labels exactly"),
    ({**FROM_BEN, "authentication": {"mode": "required"}}, "authentication", "deprecated since v1.20"),
    ({**FROM_BEN, "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}, "ports", "notes have no ports"),
    ({**FROM_BEN, "toPorts": [{"rules": {"kafka": [{"topic": "x"}]}}]}, "kafka", "only rules.http"),
    ({**FROM_BEN, "toPorts": [{"rules": {"http": [{"method": "GET", "headers": ["x: y"]}]}}]}, "headers",
     "method and path only"),
])
def test_what_the_class_cannot_act_on_is_refused_at_its_line(tmp_path: Path, rule: dict[str, Any], field: str,
                                                             words: str) -> None:
    err = refusal(tmp_path, [cnp({"endpointSelector": PENNY, "ingress": [rule]})])
    assert err.line == line_of(tmp_path, f"{field}:"), str(err)
    assert "is not supported here" in err.message and words in err.message, str(err)


def test_egress_refuses_addresses_and_l7_rules(tmp_path: Path) -> None:
    err = refusal(tmp_path, [cnp({"endpointSelector": PENNY, "egress": [{"toFQDNs": [{"matchName": "x.io"}]}]})])
    assert "toFQDNs is not supported here" in err.message
    err = refusal(tmp_path, [cnp({"endpointSelector": PENNY, "egress": [
        {"toEndpoints": [{}], "toPorts": [{"rules": {"http": [{}]}}]}]})])
    assert "enforces L7 rules on ingress" in err.message


def test_a_selector_that_fits_no_desk_and_a_policy_that_says_nothing_are_refused(tmp_path: Path) -> None:
    err = refusal(tmp_path, [cnp({"endpointSelector": PENNY, "ingress": [
        {"fromEndpoints": [{"matchLabels": {"app": "bob"}}]}]})])
    assert err.line == line_of(tmp_path, "app: bob") - 1 or err.line == line_of(tmp_path, "app: bob"), str(err)
    assert "fits no desk of this level" in err.message
    err = refusal(tmp_path, [cnp({"ingress": [FROM_BEN]})])
    assert "missing 'endpointSelector'" in err.message
    err = refusal(tmp_path, [cnp({"endpointSelector": PENNY})])
    assert "the policy would do nothing" in err.message
    err = refusal(tmp_path, [cnp({"endpointSelector": PENNY, "ingress": [
        {**FROM_BEN, "toPorts": [{"rules": {"http": [{"path": "(?=x)"}]}}]}]})])
    assert "lookaround" in err.message


def test_each_mesh_keeps_its_own_kind(tmp_path: Path) -> None:
    err = refusal(tmp_path, [cnp({"endpointSelector": PENNY, "ingress": [FROM_BEN]})], profile="istio")
    assert "CiliumNetworkPolicy (cilium.io) is Cilium's, and istio has no such resource" in err.message, str(err)
    istio_authz = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": {"name": "a"},
                   "spec": {"selector": PENNY, "action": "DENY", "rules": [{}]}}
    err = refusal(tmp_path, [istio_authz])
    assert err.message.endswith("AuthorizationPolicy (security.istio.io) is not a cilium resource; cilium does "
                                "this with a "
                                "CiliumNetworkPolicy (cilium.io/v2): endpointSelector picks the desks, "
                                "ingress[].fromEndpoints says whose desks may hand them notes (the room network "
                                "enforces it) and toPorts[].rules.http the methods and paths the row's proxy lets "
                                "through"), str(err)
    assert err.line == line_of(tmp_path, "kind: AuthorizationPolicy")


# --------------------------------------------------------------------------- Cilium's semantics

LABELS = {n: {"app": n} for n in STUDENTS}


def policies(*specs: dict[str, Any]) -> tuple[cilium.NetworkPolicy, ...]:
    return cilium.policies_from([cnp(s, f"p{i}") for i, s in enumerate(specs)], "ns")


def allowed(ps: tuple[cilium.NetworkPolicy, ...], a: str, b: str) -> bool:
    return cilium.link_verdict(ps, LABELS[a], LABELS[b]).allowed


def test_a_selected_desk_is_default_deny_and_policies_add_up() -> None:
    assert allowed(policies(), "cara", "penny")
    one = policies({"endpointSelector": PENNY, "ingress": [FROM_BEN]})
    assert allowed(one, "ben", "penny") and not allowed(one, "cara", "penny")
    assert allowed(one, "penny", "cara") and allowed(one, "cara", "ben")  # only penny's ingress is closed
    two = policies({"endpointSelector": PENNY, "ingress": [FROM_BEN]},
                   {"endpointSelector": PENNY, "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "cara"}}]}]})
    assert allowed(two, "ben", "penny") and allowed(two, "cara", "penny") and not allowed(two, "alice", "penny")
    verdict = cilium.link_verdict(one, LABELS["cara"], LABELS["penny"])
    assert verdict.reason == "default deny for ingress: no rule of ns/p0 allows it"


def test_deny_wins_and_the_empty_shapes_mean_what_they_mean_in_cilium() -> None:
    deny = policies({"endpointSelector": {}, "ingress": [{"fromEndpoints": [{}]}]},
                    {"endpointSelector": PENNY, "ingressDeny": [FROM_BEN]})
    assert allowed(deny, "cara", "penny") and not allowed(deny, "ben", "penny") and allowed(deny, "ben", "alice")
    assert cilium.link_verdict(deny, LABELS["ben"], LABELS["penny"]).policy == "ns/p1"
    nothing = policies({"endpointSelector": PENNY, "ingress": [{}]})  # Cilium's "ingress default deny"
    assert not allowed(nothing, "ben", "penny")
    anyone = policies({"endpointSelector": PENNY, "ingress": [{"toPorts": [{"rules": {"http": [{}]}}]}]})
    assert allowed(anyone, "cara", "penny")  # toPorts without fromEndpoints: from every desk
    off = policies({"endpointSelector": PENNY, "ingress": [FROM_BEN], "enableDefaultDeny": {"ingress": False}})
    assert allowed(off, "cara", "penny")
    out = policies({"endpointSelector": {"matchLabels": {"app": "cara"}},
                    "egress": [{"toEndpoints": [{"matchLabels": {"app": "dev"}}]}]})
    assert not allowed(out, "cara", "penny") and allowed(out, "penny", "cara")
    # A deny-only policy turns default-deny on too (Cilium pairs it with an allow-all, or enableDefaultDeny).
    only_deny = policies({"endpointSelector": {}, "egressDeny": [{"toEndpoints": [PENNY]}]})
    assert not allowed(only_deny, "ben", "penny") and not allowed(only_deny, "ben", "alice")
    egress_deny = policies({"endpointSelector": {}, "egress": [{"toEndpoints": [{}]}],
                            "egressDeny": [{"toEndpoints": [PENNY]}]})
    assert not allowed(egress_deny, "ben", "penny") and allowed(egress_deny, "ben", "alice")


def test_l7_rules_are_regular_expressions_on_the_whole_method_and_path() -> None:
    rule = {**FROM_BEN, "toPorts": [{"rules": {"http": [{"method": "GET", "path": "/homework/.*"}]}}]}
    ps = policies({"endpointSelector": PENNY, "ingress": [rule]})

    def l7(op: Operation, src: str = "ben") -> bool:
        return cilium.l7_verdict(ps, LABELS[src], LABELS["penny"], op).allowed

    assert l7(Operation("/homework/3", "GET"))
    assert not l7(Operation("/homework/3", "POST")) and not l7(Operation("/x/homework/3", "GET"))
    assert not l7(Operation("/homework", "GET"))  # the whole path, not a prefix
    both = policies({"endpointSelector": PENNY, "ingress": [rule, FROM_BEN]})
    assert cilium.l7_verdict(both, LABELS["ben"], LABELS["penny"], Operation("/note", "POST")).allowed


def test_the_room_network_gets_the_links_it_drops_at_round_start(tmp_path: Path) -> None:
    level = load(tmp_path, [cnp({"endpointSelector": PENNY, "ingress": [FROM_BEN]})])
    policy = mesh_policy(level.resources, "cilium", level.name)
    links = [(a, b) for pair in level.room.links for a, b in (pair, pair[::-1])]
    drops = cilium.room_drops(policy.network, LABELS, links)
    assert [(a, b) for a, b, *_ in drops] == [("cara", "penny")]


# --------------------------------------------------------------------------- a real round

async def test_the_aisles_turn_a_denied_desk_away_before_any_proxy_and_let_the_others_by(tmp_path: Path) -> None:
    traffic = [{"from": "alice", "to": "penny", "count": 4, "every": "20ms", "text": "homework?"},
               {"from": "cara", "to": "penny", "count": 3, "every": "20ms", "text": "a drawing"}]
    level = load(tmp_path, [cnp({"endpointSelector": PENNY, "ingress": [FROM_BEN]})], traffic=traffic)
    result = await Round(level, level.resources, seed=3).run()
    report = build_report(level, 3, result.events, result.processes)
    assert report["ledger_ok"] and report["notes"]["delivered"] == 4 and report["notes"]["failed"] == 3
    drops = [e for e in result.events if e.get("kind") == "aisle_policy_drop"]
    assert drops and all(e["link"] == ["cara", "penny"] and e["verdict"] == "DROPPED"
                         and e["drop_reason"] == "Policy denied" for e in drops)
    why = report["network_drops"]["cara>penny"]["reason"]
    assert why == "default deny for ingress: no rule of cilium-test/p allows it"
    # Cara's notes never reached penny's proxy: no connection from her desk, no arrival there.
    assert not any(e.get("kind") == "link_accepted" and e.get("hand") == "penny" and e.get("peer") == "cara"
                   for e in result.events)
    penny_saw = {e["note"] for e in result.events if e.get("hand") == "penny" and e.get("note")}
    assert penny_saw and not any(note.startswith("cara>") for note in penny_saw)
    cara_results = [e for e in result.events if e.get("kind") == "result" and e["from"] == "cara"]
    assert len(cara_results) == 3 and all(e["state"] == "failed" and e["flag"] == "UH" for e in cara_results)


async def test_the_row_proxy_refuses_a_note_no_http_rule_allows(tmp_path: Path) -> None:
    rule = {**FROM_BEN, "toPorts": [{"rules": {"http": [{"method": "GET"}]}}]}
    traffic = [{"from": "alice", "to": "penny", "count": 3, "every": "20ms", "text": "may I read?",
                "method": "GET", "path": "/homework"},
               {"from": "ben", "to": "penny", "count": 3, "every": "20ms", "text": "I wrote on it",
                "method": "POST", "path": "/homework"}]
    level = load(tmp_path, [cnp({"endpointSelector": PENNY, "ingress": [rule]})], traffic=traffic)
    result = await Round(level, level.resources, seed=3).run()
    report = build_report(level, 3, result.events, result.processes)
    assert report["ledger_ok"] and report["notes"]["delivered"] == 3 and report["failures"]["denied"] == 3
    denials = [e for e in result.events if e.get("kind") == "policy_denied"]
    assert len(denials) == 3 and all(e["hand"] == "penny" and e["layer"] == "L7" and e["method"] == "POST"
                                     for e in denials)
    results = [e for e in result.events if e.get("kind") == "result" and e["from"] == "ben"]
    assert len(results) == 3 and all(e["cause"] == "denied" and "Access denied at penny's row proxy" in e["reason"]
                                     for e in results), results


async def test_a_killed_row_proxy_takes_every_desk_of_its_row_down(tmp_path: Path) -> None:
    # The other row goes on sending, so the round outlives the kill.
    traffic = [{"from": "alice", "to": "dev", "count": 40, "every": "50ms", "text": "still there?"},
               {"from": "cara", "to": "dev", "count": 30, "every": "50ms", "text": "and you?"}]
    level = load(tmp_path, [], traffic=traffic)
    ready = asyncio.Event()

    def on_event(event: dict[str, Any]) -> None:
        if event.get("kind") == "room_ready":
            ready.set()

    round_ = Round(level, level.resources, seed=3, on_event=on_event)
    task = asyncio.ensure_future(round_.run())
    await asyncio.wait_for(ready.wait(), EVENT_LIMIT)
    row = next(p for p in round_.processes if p["role"] == "proxy" and "penny" in p["serves"])
    assert sorted(row["serves"]) == ["alice", "ben", "penny"]  # one proxy for the whole row
    os.kill(row["pid"], signal.SIGKILL)
    result = await asyncio.wait_for(task, 120)
    lost = [e for e in result.events if e.get("kind") == "proxy_lost"]
    assert len(lost) == 1 and sorted(lost[0]["hands"]) == ["alice", "ben", "penny"], lost
    exited = [e for e in result.events if e.get("kind") == "process_exited" and e.get("role") == "proxy"]
    assert [sorted(e["name"].split("+")) for e in exited] == [["alice", "ben", "penny"]]
    report = build_report(level, 3, result.events, result.processes)
    assert report["ledger_ok"] and report["notes"]["in_flight"] == 0
    cara = [e for e in result.events if e.get("kind") == "result" and e["from"] == "cara"]
    # Cara's notes to dev went through the fallen row (cara's only neighbour is penny): the last ones fail.
    assert len(cara) == 30 and cara[-1]["state"] == "failed", cara[-1]
    assert wait_gone(round_.pids()) == []


def test_the_window_form_edits_a_cilium_policy_into_the_solution() -> None:
    import copy

    from classroom.game.model.configfields import Form
    from classroom.game.model.configtext import put_path
    from classroom.level import validate_resources

    level = load_level(str(Path(__file__).resolve().parent.parent / "classroom/data/levels/25-read-only-homework.yaml"))
    resources = [copy.deepcopy(dict(r)) for r in level.resources]
    slots = {s.field.label: s for s in Form(level, tuple(s.name for s in level.students), resources).slots()}
    assert slots["desks it is about"].field.value == "penny"
    assert slots["ingress 1: from the desk of"].field.value == "ben"
    for label, value in (("ingress 1: http method", "GET"), ("ingress 1: http path", "/homework")):
        put_path(resources[0], slots[label].path, value, slots[label].floor)
    checked = validate_resources(resources, students=[s.name for s in level.students], namespace=level.name,
                                 profile="cilium")
    assert checked[0]["spec"] == level.solution[0]["spec"]


async def test_a_live_push_closes_a_link_in_the_room_network(tmp_path: Path) -> None:
    traffic = [{"from": "cara", "to": "penny", "count": 40, "every": "50ms", "text": "tap tap"}]
    level = load(tmp_path, [], traffic=traffic)
    some_arrived = asyncio.Event()
    arrived: list[str] = []

    def on_event(event: dict[str, Any]) -> None:
        if event.get("kind") == "result" and event.get("state") == "delivered":
            arrived.append(event["note"])
            if len(arrived) >= 3:
                some_arrived.set()

    round_ = Round(level, level.resources, seed=3, on_event=on_event)
    task = asyncio.ensure_future(round_.run())
    await asyncio.wait_for(some_arrived.wait(), EVENT_LIMIT)
    assert round_.controls is not None
    round_.controls.set((cnp({"endpointSelector": PENNY, "ingress": [FROM_BEN]}),))
    result = await asyncio.wait_for(task, 120)
    drops = [e for e in result.events if e.get("kind") == "aisle_policy_drop"]
    assert drops and drops[0]["link"] == ["cara", "penny"] and drops[0].get("established"), drops[:2]
    results = {e["note"]: e["state"] for e in result.events if e.get("kind") == "result"}
    assert results["cara>penny#1"] == "delivered" and results["cara>penny#40"] == "failed"
    assert build_report(level, 3, result.events, result.processes)["ledger_ok"]


def test_the_window_shows_every_desk_of_a_fallen_row_down() -> None:
    from classroom.game.model.classmodel import ClassModel

    level = load_level(str(Path(__file__).resolve().parent.parent / "classroom/data/levels/25-read-only-homework.yaml"))
    model = ClassModel.from_level(level, 1, 1.0)
    model.apply({"kind": "proxy_lost", "t": 1.0, "proxy": "proxy-alice+ben+penny", "hands": ["alice", "ben", "penny"]})
    assert {name: desk.state for name, desk in model.desks.items()} == {
        "alice": "absent", "ben": "absent", "penny": "absent"}


async def test_the_teacher_is_no_desk_and_a_guarded_desk_drops_her_forgeries(tmp_path: Path) -> None:
    path = tmp_path / "level.yaml"
    doc = yaml.safe_load(level_text([cnp({"endpointSelector": PENNY, "ingress": [FROM_BEN]})]))
    doc["teacher"] = {"patrol": [[0, 2], [1, 2]], "speed": 0.5, "forges": True}
    doc["traffic"] = [{"from": "alice", "to": "penny", "count": 10, "every": "100ms", "text": "homework?"}]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    level = load_level(str(path))
    result = await Round(level, level.resources, seed=3).run()
    report = build_report(level, 3, result.events, result.processes)
    assert report["teacher"]["forged"] > 0 and report["teacher"]["forged_accepted"] == 0, report["teacher"]
    theirs = [e for e in result.events if e.get("kind") == "aisle_policy_drop" and e["link"][0] == "teacher"]
    assert theirs and {e["link"][1] for e in theirs} == {"penny"}
    assert report["notes"]["delivered"] == 10 and report["ledger_ok"]
