"""AuthorizationPolicy evaluation, in Istio's order, on hand-made policies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import level_doc

from classroom.level import LevelError, load_level
from classroom.mesh.control.authz import (
    ALLOW,
    DENY,
    Policy,
    Rule,
    Source,
    Target,
    decide,
    policies_from,
)
from classroom.mesh.runtime.round import Round, wait_gone
from classroom.report import build_report

NS = "classroom.local/ns/rules"


def round_trip(policies: tuple[Policy, ...]) -> tuple[Policy, ...]:
    """Policies as the office pushes them to the proxies (in the MeshPolicy's JSON) and back."""
    from classroom.mesh.control.policy import MeshPolicy

    return MeshPolicy.from_json(json.loads(json.dumps(MeshPolicy(authz=policies).to_json()))).authz
GUS, BEN = f"{NS}/sa/gus", f"{NS}/sa/ben"


def only(*principals: str) -> Rule:
    return Rule(sources=(Source(principals=principals),))


def test_no_policy_allows() -> None:
    assert decide((), "dev", GUS, "dev").allowed


def test_a_matching_deny_denies_and_names_itself() -> None:
    policies = (Policy("rules/no-gus", DENY, "dev", (only(GUS),)),)
    decision = decide(policies, "dev", GUS, "dev")
    assert not decision.allowed and decision.policy == "rules/no-gus"
    assert "explicitly denied by: rules/no-gus" in decision.reason
    assert decide(policies, "dev", BEN, "dev").allowed  # the rule names gus only
    assert decide(policies, "ben", GUS, "dev").allowed  # and applies to dev only


def test_deny_wins_over_allow() -> None:
    policies = (Policy("a", ALLOW, None, (only("*"),)), Policy("d", DENY, None, (only(GUS),)))
    assert not decide(policies, "dev", GUS, "dev").allowed
    assert decide(policies, "dev", BEN, "dev").allowed


def test_allow_policies_need_a_match() -> None:
    policies = (Policy("friends", ALLOW, "dev", (only(BEN),)),)
    assert decide(policies, "dev", BEN, "dev").allowed
    denied = decide(policies, "dev", GUS, "dev")
    assert not denied.allowed and denied.reason == "allow policies exist, but none allowed"


def test_allow_nothing_and_allow_everything() -> None:
    assert not decide((Policy("nothing", ALLOW, None, ()),), "dev", BEN, "dev").allowed
    assert decide((Policy("all", ALLOW, None, (Rule(),)),), "dev", None, "dev").allowed


def test_a_plaintext_peer_has_no_principal() -> None:
    policies = (Policy("friends", ALLOW, None, (only("*"),)),)
    assert not decide(policies, "dev", None, "dev").allowed


@pytest.mark.parametrize(("pattern", "matches"), [
    (f"{NS}/sa/*", True), ("*/sa/gus", True), ("classroom.local/ns/other/*", False), (GUS, True),
])
def test_principal_patterns(pattern: str, matches: bool) -> None:
    policies = (Policy("d", DENY, None, (only(pattern),)),)
    assert decide(policies, "dev", GUS, "dev").allowed is not matches


def test_not_principals_namespaces_and_hosts() -> None:
    rule = Rule(sources=(Source(not_principals=(BEN,), namespaces=("rules",)),),
                operations=(Target(hosts=("fay",)),))
    policies = (Policy("d", DENY, None, (rule,)),)
    assert not decide(policies, "dev", GUS, "fay").allowed
    assert decide(policies, "dev", BEN, "fay").allowed  # not_principals
    assert decide(policies, "dev", GUS, "eli").allowed  # another host
    assert decide(policies, "dev", "classroom.local/ns/other/sa/gus", "fay").allowed


def test_policies_from_resources_round_trip() -> None:
    resources = [{
        "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
        "metadata": {"name": "no-gus"},
        "spec": {"selector": {"matchLabels": {"app": "dev"}}, "action": "DENY",
                 "rules": [{"from": [{"source": {"principals": [GUS]}}],
                            "to": [{"operation": {"hosts": ["dev"]}}]}]},
    }, {"kind": "PeerAuthentication", "spec": {}}]
    policies = policies_from(resources, "rules")
    assert policies == (Policy("rules/no-gus", DENY, "dev",
                               (Rule((Source(principals=(GUS,)),), (Target(hosts=("dev",)),)),)),)
    assert round_trip(policies) == policies


# --- selectors pick students by their labels, as Istio's matchLabels pick pods -----------------
V1 = {"app": "dana", "version": "v1"}
V2 = {"app": "dana", "version": "v2"}


def policy(match_labels: dict[str, str] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"action": "DENY", "rules": [{"from": [{"source": {"namespaces": ["test-row"]}}]}]}
    if match_labels is not None:
        spec["selector"] = {"matchLabels": match_labels}
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": "dana-takes-no-notes"}, "spec": spec}


def test_a_selector_matches_labels_not_names() -> None:
    (by_app,) = policies_from([policy({"app": "dana"})], "test-row")
    (by_version,) = policies_from([policy(V2)], "test-row")
    gus = "classroom.local/ns/test-row/sa/gus"
    assert not decide((by_app,), "dana-v1", gus, "dana-v1", V1).allowed
    assert not decide((by_app,), "dana-v2", gus, "dana-v2", V2).allowed
    assert decide((by_version,), "dana-v1", gus, "dana-v1", V1).allowed  # the other version
    assert not decide((by_version,), "dana-v2", gus, "dana-v2", V2).allowed
    # Without labels of her own, a student's app label is her name.
    assert not decide(policies_from([policy({"app": "ben"})], "test-row"), "ben", gus, "ben").allowed
    assert decide((by_app,), "ben", gus, "ben").allowed
    assert round_trip((by_app, by_version)) == (by_app, by_version)


def test_labels_given_replace_the_name_as_app() -> None:
    only_dana_v1 = (Policy("rules/by-name", DENY, "dana-v1", (Rule(),)),)
    assert decide(only_dana_v1, "dana-v1", None, "dana-v1", V1).allowed  # her app is dana, not dana-v1


def canary_level(tmp_path: Path, resources: list[dict[str, Any]]) -> Path:
    doc = level_doc(traffic=[{"from": "alice", "to": "dana", "count": 6, "every": "10ms", "text": "seat?"},
                             {"from": "alice", "to": "ben", "count": 3, "every": "10ms", "text": "hi"}])
    doc["room"] = {"rows": 2, "cols": 2, "passing_time": "0ms", "links": "neighbours"}
    doc["students"] = [{"name": "alice", "seat": [0, 0]}, {"name": "ben", "seat": [0, 1]},
                       {"name": "dana-v1", "seat": [1, 0], "labels": V1},
                       {"name": "dana-v2", "seat": [1, 1], "labels": V2}]
    doc["mesh"]["resources"] += resources
    path = tmp_path / "canary.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.parametrize("labels", [{"app": "dana-v1"}, {"app": "dana", "version": "v3"}])
def test_a_selector_that_fits_no_student_is_refused(tmp_path: Path, labels: dict[str, str]) -> None:
    with pytest.raises(LevelError) as info:
        load_level(str(canary_level(tmp_path, [policy(labels)])))
    assert "selector matches nobody" in str(info.value)


@pytest.mark.timeout(180)
async def test_an_app_selector_guards_both_seats_of_a_canary_pair(tmp_path: Path) -> None:
    level = load_level(str(canary_level(tmp_path, [policy({"app": "dana"})])))
    round_ = Round(level, level.resources, seed=level.seed)
    result = await round_.run()
    assert wait_gone(round_.pids()) == []
    report = build_report(level, level.seed, result.events, result.processes)
    outcomes = [e for e in result.events if e.get("kind") == "result"]
    to_dana = [r for r in outcomes if r["to"].startswith("dana")]
    assert len(to_dana) == 6 and all(r["state"] == "failed" and r["cause"] == "denied" for r in to_dana)
    assert {r["to"] for r in to_dana} == {"dana-v1", "dana-v2"}  # both seats took some, both said no
    assert all(r["state"] == "delivered" for r in outcomes if r["to"] == "ben")
    denials = [e for e in result.events if e.get("kind") == "policy_denied"]
    assert {d["hand"] for d in denials} <= {"dana-v1", "dana-v2"}
    assert all(d["policy"] == "test-row/dana-takes-no-notes" for d in denials)
    assert report["ledger_ok"]


# --- operations and conditions: what the note asks for ------------------------------------------------


def _from_yaml(spec: dict[str, Any]) -> tuple[Policy, ...]:
    return policies_from([{"kind": "AuthorizationPolicy", "metadata": {"name": "p"}, "spec": spec}], "rules")


def test_an_allow_limited_to_methods_and_paths_lets_only_those_notes_through() -> None:
    from classroom.mesh.control.request import Operation

    policies = _from_yaml({"action": "ALLOW", "rules": [{"to": [{"operation": {"methods": ["POST"],
                                                                               "paths": ["/nothing"]}}]}]})
    assert not decide(policies, "penny", GUS, "penny", op=Operation("/note", "POST")).allowed
    assert not decide(policies, "penny", GUS, "penny", op=Operation("/nothing", "GET")).allowed
    assert decide(policies, "penny", GUS, "penny", op=Operation("/nothing", "POST")).allowed


def test_paths_match_as_istio_s_prefix_and_suffix_and_not_paths_excludes() -> None:
    from classroom.mesh.control.request import Operation

    policies = _from_yaml({"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/quiz*", "*.answers"],
                                                                              "notPaths": ["/quiz/public"]}}]}]})
    assert not decide(policies, "dev", GUS, "dev", op=Operation("/quiz/3")).allowed
    assert not decide(policies, "dev", GUS, "dev", op=Operation("/maths.answers")).allowed
    assert decide(policies, "dev", GUS, "dev", op=Operation("/quiz/public")).allowed
    assert decide(policies, "dev", GUS, "dev", op=Operation("/lunch")).allowed


def test_when_conditions_read_the_note_s_headers_and_its_source() -> None:
    from classroom.mesh.control.request import Operation

    policies = _from_yaml({"action": "ALLOW", "rules": [{"when": [
        {"key": "request.headers[x-pass]", "values": ["hall-*"]},
        {"key": "source.namespace", "values": ["rules"], "notValues": ["elsewhere"]}]}]})
    signed = Operation(headers=(("X-Pass", "hall-7"),))
    assert decide(policies, "dev", GUS, "dev", op=signed).allowed
    assert not decide(policies, "dev", GUS, "dev", op=Operation()).allowed  # no pass at all
    assert not decide(policies, "dev", None, "dev", op=signed).allowed  # plaintext: no namespace
