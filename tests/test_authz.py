"""AuthorizationPolicy evaluation, in Istio's order, on hand-made policies."""

from __future__ import annotations

import pytest

from classroom.mesh.control.authz import (
    ALLOW,
    DENY,
    Operation,
    Policy,
    Rule,
    Source,
    decide,
    from_json,
    policies_from,
    to_json,
)

NS = "classroom.local/ns/rules"
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
                operations=(Operation(hosts=("fay",)),))
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
                               (Rule((Source(principals=(GUS,)),), (Operation(hosts=("dev",)),)),)),)
    assert from_json(to_json(policies)) == policies
