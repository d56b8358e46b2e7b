"""`classroom analyze`: istioctl's codes, levels, words and forms for a class's rules, and the class's own codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO

from classroom.analyze import CODES, analyze, analyze_config, read_config
from classroom.level import list_levels, load_level

LEVELS = list_levels()


def vs(host: str, *rules: dict[str, Any], name: str | None = None, hosts: list[str] | None = None) -> dict[str, Any]:
    http = list(rules) or [{"route": [{"destination": {"host": host}}]}]
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": name or host},
            "spec": {"hosts": hosts or [host], "http": http}}


def dr(host: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": host},
            "spec": {"host": host, **spec}}


def pa(mode: str, name: str = "default", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": {"name": name},
            "spec": {"mtls": {"mode": mode}, **spec}}


def ap(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": {"name": name},
            "spec": spec}


def codes(resources: list[dict[str, Any]], level: Any = None) -> list[str]:
    return [m.code for m in analyze(resources, level)]


def route(host: str, subset: str | None = None, weight: int | None = None) -> dict[str, Any]:
    destination: dict[str, Any] = {"host": host, **({"subset": subset} if subset else {})}
    return {"destination": destination, **({"weight": weight} if weight is not None else {})}


@pytest.mark.parametrize("level", LEVELS, ids=[lv.name for lv in LEVELS])
def test_no_level_s_resources_or_solution_has_an_error(level: Any) -> None:
    for resources in (level.resources, level.solution or ()):
        errors = [str(m) for m in analyze(list(resources), level, sources=level.path) if m.level == "Error"]
        assert errors == []


def test_every_code_is_istios_or_the_class_s_own_range() -> None:
    for kind in CODES:
        assert kind.code[:3] in ("IST", "CLS") and kind.level in ("Info", "Warning", "Error")
    istio = {k.code: (k.name, k.level) for k in CODES if k.code.startswith("IST")}
    assert istio["IST0101"] == ("ReferencedResourceNotFound", "Error")
    assert istio["IST0106"] == ("SchemaValidationError", "Error")
    assert istio["IST0127"] == ("NoMatchingWorkloadsFound", "Warning")
    assert istio["IST0130"] == ("VirtualServiceUnreachableRule", "Warning")
    assert istio["IST0131"] == ("VirtualServiceIneffectiveMatch", "Info")
    assert istio["IST0167"] == ("IneffectivePolicy", "Warning")
    assert istio["IST0173"] == ("DestinationRuleSubsetNotSelectPods", "Error")


def test_a_refused_field_is_ist0106_at_its_line_and_the_rest_is_still_analyzed(tmp_path: Path) -> None:
    text = yaml.safe_dump([dr("dana", trafficPolicy={"retryBudget": {"percent": {"value": 10}}}),
                           vs("danna")], sort_keys=False)
    config = tmp_path / "mine.yaml"
    config.write_text(text)
    level = load_level("07-retry-storm")
    messages = analyze(read_config(str(config)), level, sources=str(config))
    first = messages[0]
    assert first.code == "IST0106" and first.level == "Error"
    assert first.text.startswith("Schema validation error: resources[0].spec.trafficPolicy.retryBudget.percent is "
                                 "a number from 0 to 100, written `percent: 10`")
    percent_line = next(i for i, line in enumerate(text.splitlines(), 1) if line.strip().startswith("percent:"))
    assert first.reference == f"{config}:{percent_line}"
    assert str(first).startswith(f"Error [IST0106] (DestinationRule retry-storm/dana {config}:")
    assert [m.text for m in messages if m.code == "IST0101"] == ['Referenced host not found: "danna"'] * 2


def test_ist0101_hosts_and_subsets_and_ist0173_a_subset_of_nobody() -> None:
    level = load_level("11-the-new-seat")
    subsets = [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v3", "labels": {"version": "v3"}}]
    messages = analyze([dr("dana", subsets=subsets),
                        vs("dana", {"route": [route("dana", "v1", 90), route("dana", "v2", 10)]})], level)
    found = {(m.code, m.text) for m in messages}
    assert ("IST0101", 'Referenced host+subset in destinationrule not found: "dana+v2"') in found
    assert ("IST0173", "The Subset v3 defined in the DestinationRule does not select any pods. Which may lead to "
            "503 UH (NoHealthyUpstream).") in found
    assert "IST0174" in codes([dr("zed")], level)


def test_ist0109_two_virtual_services_for_one_host() -> None:
    messages = analyze([vs("dana", name="a"), vs("dana", name="b")])
    assert [m.code for m in messages] == ["IST0109", "IST0109"]
    assert "The VirtualServices default/a,default/b associated with mesh gateway define the same host dana" in (
        messages[0].text)


def test_ist0127_a_selector_that_fits_no_student() -> None:
    level = load_level("10-class-rules")
    messages = analyze([ap("x", selector={"matchLabels": {"app": "penny", "version": "v2"}}, action="ALLOW")], level)
    assert [(m.code, m.text) for m in messages] == [
        ("IST0127", "No matching workloads for this resource with the following labels: app=penny,version=v2")]


def test_ist0130_and_ist0131_rules_no_note_reaches() -> None:
    post = {"method": {"exact": "POST"}}
    rules = [
        {"name": "posts", "match": [post, post], "route": [route("dana")]},
        {"match": [post], "route": [route("dana")]},
        {"match": [{"uri": {"prefix": "/notes"}}], "route": [route("dana")]},
        {"match": [{"uri": {"prefix": "/notes/maths"}}], "route": [route("dana")]},
        {"route": [route("dana")]},
        {"route": [route("dana")]},
    ]
    found = [(m.code, m.text) for m in analyze([vs("dana", *rules)])]
    assert ("IST0131", 'VirtualService rule "posts" match #1 is not used (duplicate/overlapping match in rule '
            '"posts").') in found
    assert ("IST0130", "VirtualService rule #1 not used (all matches used by prior rules).") in found
    assert ("IST0131", "VirtualService rule #3 match #0 of prefix /notes/maths is not used (duplicate/overlapping "
            "match in rule #2 match #0).") in found
    assert ("IST0130", "VirtualService rule #5 not used (only the last rule can have no matches).") in found


def test_ist0167_policies_with_no_impact() -> None:
    level = load_level("11-the-new-seat")
    subsets = [{"name": "v1", "labels": {"version": "v1"}},
               {"name": "v2", "labels": {"version": "v2"}, "trafficPolicy": {"retryBudget": {"percent": 5}}}]
    texts = [m.text for m in analyze([dr("dana", subsets=subsets), vs("dana", {"route": [route("dana", "v1")]})],
                                     level) if m.code == "IST0167"]
    assert texts == ["The policy has no impact: the trafficPolicy of subset v2 acts only on notes a route sends to "
                     "that subset, and no VirtualService route sends notes to dana+v2."]
    outlier = {"outlierDetection": {"consecutive5xxErrors": 2, "consecutiveGatewayErrors": 3}}
    assert "IST0167" in codes([dr("dana", trafficPolicy=outlier)])
    no_retries = vs("dana", {"retries": {"attempts": 0}, "route": [route("dana")]})
    assert "IST0167" in codes([dr("dana", trafficPolicy={"retryBudget": {"percent": 5}}), no_retries])


def test_cls0001_retries_multiply_hop_by_hop_unless_a_budget_bounds_them() -> None:
    level = load_level("07-retry-storm")
    messages = [m for m in analyze(list(level.resources), level) if m.code == "CLS0001"]
    assert len(messages) == 1 and messages[0].level == "Warning"
    assert "retries multiply hop by hop" in messages[0].text and "4^4 = 256" in messages[0].text
    assert "CLS0001" not in codes(list(level.solution or ()), level)


def test_cls0001_leaves_out_a_rule_with_a_fault_whose_retries_istio_turns_off() -> None:
    level = load_level("07-retry-storm")
    abort = {"abort": {"percentage": {"value": 100}, "httpStatus": 503}}
    faulted = vs("dana", {"fault": abort, "retries": {"attempts": 3, "retryOn": "5xx"}, "route": [route("dana")]})
    assert "CLS0001" not in codes([faulted], level)
    retrying = vs("dana", {"fault": abort, "match": [{"uri": {"prefix": "/drill"}}], "route": [route("dana")]},
                  {"retries": {"attempts": 3, "retryOn": "5xx"}, "route": [route("dana")]})
    [message] = [m for m in analyze([retrying], level) if m.code == "CLS0001"]
    assert "4^4 = 256" in message.text


def test_the_teacher_and_plaintext() -> None:
    teacher_level = load_level("08-teacher-in-the-aisle")
    assert "CLS0003" in codes([pa("DISABLE")], teacher_level)
    assert "CLS0003" not in codes([pa("STRICT")], teacher_level)
    migration = load_level("13-safe-migration")
    strict = [m for m in analyze([pa("STRICT")], migration) if m.code == "CLS0004"]
    assert strict and "nia has no sidecar (meshed: false)" in strict[0].text
    assert "CLS0004" not in codes([pa("PERMISSIVE")], migration)


def test_the_forging_teacher_is_believed_where_plaintext_is_accepted(tmp_path: Path) -> None:
    doc = yaml.safe_load((REPO / "levels" / "09-the-impostor.yaml").read_text())
    doc["teacher"]["forges"] = True
    path = tmp_path / "forger.yaml"
    path.write_text(yaml.safe_dump(doc))
    level = load_level(str(path))
    assert "CLS0002" in codes([pa("PERMISSIVE")], level)
    assert "CLS0002" not in codes([pa("STRICT")], level)


def envelope(seal: bool, **selector: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"seal": seal}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    return {"apiVersion": "classroom.mesh/v1", "kind": "EnvelopePolicy",
            "metadata": {"name": "default" if not selector else "-".join(selector.values())}, "spec": spec}


def test_nosy_hands_read_what_is_not_sealed_whatever_the_mtls_mode() -> None:
    level = load_level("02-nosy-neighbours")  # ben, cara and dev between alice (and fay) and eli
    found = [m for m in analyze([pa("STRICT")], level) if m.code == "CLS0013"]
    assert found and found[0].level == "Warning"
    assert "ben, cara and dev are nosy" in found[0].text and "alice and fay" in found[0].text
    assert "CLS0013" not in codes([pa("STRICT"), envelope(True)], level)
    assert "CLS0013" in codes([pa("STRICT"), envelope(False)], level)
    # Only alice seals: fay's notes are still read on the way.
    only_alice = [m for m in analyze([pa("STRICT"), envelope(True, app="alice")], level) if m.code == "CLS0013"]
    assert only_alice and "notes from fay," in only_alice[0].text


def test_sealing_stops_the_forger_and_the_eavesdropper_too() -> None:
    level = load_level("08-teacher-in-the-aisle")
    assert {"CLS0002", "CLS0003"} <= set(codes([pa("DISABLE")], level))
    assert not {"CLS0002", "CLS0003"} & set(codes([pa("DISABLE"), envelope(True)], level))


def test_timeouts_against_the_room() -> None:
    level = load_level("03-lost-notes")  # alice to dana: 3 passes of 150ms
    short = vs("dana", {"timeout": "300ms", "route": [route("dana")]})
    assert [m.text for m in analyze([short], level) if m.code == "CLS0006"] == [
        "timeout 300ms is shorter than the quickest way from alice to dana (3 passes of 150ms = 450ms): every note "
        "runs out of time on the way"]
    per_try = vs("dana", {"timeout": "4s", "retries": {"attempts": 2, "perTryTimeout": "4s"},
                          "route": [route("dana")]})
    assert "CLS0005" in codes([per_try], level)


def test_the_class_s_own_mistakes() -> None:
    level = load_level("10-class-rules")
    rule = {"from": [{"source": {"principals": ["spiffe://classroom.local/ns/class-rules/sa/gus",
                                                "classroom.local/ns/class-rules/sa/gsu"]}}],
            "to": [{"operation": {"methods": ["post"]}}]}
    messages = analyze([ap("x", action="DENY", rules=[rule])], level)
    texts = [m.text for m in messages if m.code in ("CLS0008", "CLS0011")]
    assert any("never matches: Istio writes principals without spiffe://" in t for t in texts)
    assert any("'gsu', who is not a student of this class" in t for t in texts)
    assert any("methods 'post' never matches: a note's method is written in capitals ('POST')" in t for t in texts)
    assert "CLS0010" in codes([pa("STRICT"), pa("PERMISSIVE", name="second")])
    assert "CLS0007" in codes([vs("dana", {"route": [route("dana", "a", 1), route("dana", "b", 1)]}),
                               dr("dana", subsets=[{"name": "a"}, {"name": "b"}])])
    namespaced = pa("STRICT")
    namespaced["metadata"]["namespace"] = "prod"
    assert "CLS0009" in codes([namespaced], level)


def test_a_config_is_analyzed_as_run_would_merge_it() -> None:
    level = load_level("07-retry-storm")  # editable: DestinationRule only
    messages = analyze_config([pa("DISABLE")], level, sources="mine.yaml")
    assert messages[0].code == "CLS0012" and "lets you edit only DestinationRule" in messages[0].text
    budget = dr("dana", trafficPolicy={"retryBudget": {"percent": 10, "minRetryConcurrency": 1}})
    assert [m.code for m in analyze_config([budget], level, sources="mine.yaml")] == []


def test_message_forms_are_istioctl_s() -> None:
    message = analyze([vs("dana", {"route": [route("dana", "v9")]})], sources="mine.yaml")[0]
    assert str(message) == ('Error [IST0101] (VirtualService default/dana mine.yaml) Referenced host+subset in '
                            'destinationrule not found: "dana+v9"')  # plain data has no lines: the file alone
    body = message.to_json()
    assert list(body) == ["code", "level", "origin", "reference", "message", "documentationUrl"]
    assert body["documentationUrl"] == "https://istio.io/latest/docs/reference/config/analysis/ist0101/"
    json.dumps(body)


# --------------------------------------------------------------------------- the command


def classroom(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "classroom.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=REPO)


def test_the_command_exits_79_on_an_error_and_0_on_none(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump([vs("danna")]))
    done = classroom("analyze", str(bad), "--level", "03-lost-notes")
    assert done.returncode == 79, done.stderr
    assert done.stdout.splitlines()[0].startswith(f"Error [IST0101] (VirtualService lost-notes/danna {bad}:")
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump([vs("dana")]))
    done = classroom("analyze", str(good), "--level", "03-lost-notes")
    assert done.returncode == 0 and done.stdout == ""
    assert done.stderr == f"\u2714 No validation issues found when analyzing {good}.\n"


def test_the_command_s_json_and_threshold(tmp_path: Path) -> None:
    done = classroom("analyze", "--level", "07-retry-storm", "-o", "json")
    assert done.returncode == 0  # a warning is below the default threshold, Error
    body = json.loads(done.stdout)
    assert body[0]["code"] == "CLS0001" and body[0]["reference"].endswith("07-retry-storm.yaml:91")
    assert classroom("analyze", "--level", "07-retry-storm", "--failure-threshold", "warning").returncode == 79
    assert classroom("analyze", "--level", "07-retry-storm", "--solution").returncode == 0


@pytest.mark.parametrize("args, phrase", [
    (["/nonexistent/mine.yaml"], "/nonexistent/mine.yaml: no such file"),
    ([], "analyze needs a CONFIG file, or --level LEVEL"),
    (["--level", "nosuch"], "no level named 'nosuch'"),
    (["--level", "01-first-note", "--failure-threshold", "loud"], "--failure-threshold is Info, Warning or Error"),
])
def test_the_command_s_bad_input_is_one_line_and_exit_2(args: list[str], phrase: str) -> None:
    done = classroom("analyze", *args)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and phrase in done.stderr, done.stderr


def test_check_says_what_it_checked_and_starts_no_round() -> None:
    done = classroom("check")
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    for words in ("Python 3.", "cryptography", "pygame-ce", "networkx", "TLS 1.3", "loopback", "fork",
                  "bundled levels load", "fonts", "/dev/shm"):
        assert any(words in line for line in lines), words
    assert all(line[0] in "\u2714\u203c\u00d7" for line in lines if line and not line.startswith("Status")), lines
    assert not any("round of" in line for line in lines)
