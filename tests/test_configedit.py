"""The config panel's model: fields, edits, YAML text and its errors, for every level (no pygame)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import LEVELS, REPO

from classroom.game.model.configedit import CHOICE, TOGGLE, ConfigEditor, ConfigError, plain
from classroom.game.model.configfields import form_builds
from classroom.level import Level, list_levels, load_level
from classroom.mesh.control.compile import mesh_policy
from classroom.mesh.control.request import Operation

ALL_LEVELS = sorted(p.stem for p in LEVELS.glob("*.yaml"))


def level(stem: str) -> Level:
    return load_level(str(LEVELS / f"{stem}.yaml"))


# The levels whose editable kinds the form builds; a Linkerd level's own kinds are edited as YAML text.
FORM_LEVELS = [stem for stem in ALL_LEVELS if any(form_builds(k, level(stem).profile) for k in level(stem).editable)]


def test_the_model_imports_no_pygame() -> None:
    code = "import sys, classroom.game.model.configedit; print('pygame' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("stem", ALL_LEVELS)
@pytest.mark.parametrize("which", ["start", "solution"])
def test_round_trip_fields_yaml_parse_gives_the_same_resources(stem: str, which: str) -> None:
    lv = level(stem)
    resources = lv.resources if which == "start" else lv.solution
    assert resources is not None
    editor = ConfigEditor(lv, resources)
    assert bool(editor.fields()) == (stem in FORM_LEVELS), f"{stem}: the form shows nothing to edit"
    for field in editor.fields():  # writing every field's own value back changes nothing
        editor.set(field.key, field.value)
    assert list(editor.resources()) == plain(list(resources))
    assert list(editor.parse_yaml(editor.yaml_text())) == plain(list(resources))


@pytest.mark.parametrize("stem", FORM_LEVELS)
def test_the_form_alone_can_reach_every_level_solution(stem: str) -> None:
    lv = level(stem)
    assert lv.solution is not None
    editor = ConfigEditor(lv)
    for field in ConfigEditor(lv, lv.solution).fields():
        editor.set(field.key, field.value)
    assert list(editor.resources()) == plain(list(lv.solution))
    assert mesh_policy(editor.resources(), lv.profile) == mesh_policy(lv.solution, lv.profile)


@pytest.mark.parametrize("stem", sorted(set(ALL_LEVELS) - set(FORM_LEVELS)))
def test_the_text_alone_reaches_a_solution_the_form_cannot_build(stem: str) -> None:
    lv = level(stem)
    assert lv.solution is not None and not any(form_builds(kind, lv.profile) for kind in lv.editable)
    solved = ConfigEditor(lv, lv.solution)
    editor = ConfigEditor(lv)
    assert mesh_policy(editor.parse_yaml(solved.yaml_text()), lv.profile) == mesh_policy(lv.solution, lv.profile)


def test_fields_cover_only_editable_kinds() -> None:
    for lv in list_levels():
        kinds = {f.key.split("/", 1)[0] for f in ConfigEditor(lv).fields()}
        assert kinds <= set(lv.editable), lv.name


def test_a_match_s_header_value_and_a_route_s_subset_are_fields() -> None:
    lv = level("15-just-for-ben")
    editor = ConfigEditor(lv)
    header = "VirtualService/dana/spec.http[0].match[0].headers.end-user.exact"
    assert editor.field(header).value == "Ben"
    subset = editor.field("VirtualService/dana/spec.http[1].route[0].destination.subset")
    assert subset.kind == CHOICE and subset.choices == ("v1", "v2")
    ben = Operation("/note", "POST", (("end-user", "ben"),))
    before = mesh_policy(editor.resources(), lv.profile).rule("dana", ben)
    assert before is not None and before.name == "everyone"  # "Ben" is not "ben"
    editor.set(header, "ben")
    after = mesh_policy(editor.resources(), lv.profile).rule("dana", ben)
    assert after is not None and after.name == "ben-tries-the-new-desk" and after.route[0].subset == "v2"
    assert "exact: ben" in editor.yaml_text()


def test_the_circuit_breaker_s_queue_is_a_field_and_a_fault_s_share_too() -> None:
    lv = level("16-the-slow-hand")
    editor = ConfigEditor(lv)
    assert editor.field("DestinationRule/dana/spec.trafficPolicy.connectionPool").value is True
    editor.set("DestinationRule/dana/spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests", 1)
    pool = mesh_policy(editor.resources(), lv.profile).traffic("dana").pool
    assert pool is not None and (pool.max_connections, pool.max_pending) == (2, 1)
    editor.set("DestinationRule/dana/spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests", None)
    assert "http:" not in editor.yaml_text()  # the emptied part goes with its last setting
    drill = ConfigEditor(level("17-the-fire-drill"))
    drill.set("VirtualService/dana/spec.http[0].fault.abort.percentage.value", 50)
    rule = mesh_policy(drill.resources(), drill.level.profile).rule("dana")
    assert rule is not None and rule.fault is not None and rule.fault.abort_percent == 50
    drill.set("VirtualService/dana/spec.http[0].match[0].uri.prefix", "/drill")
    note = mesh_policy(drill.resources(), drill.level.profile).rule("dana")
    assert note is not None and note.name == "lessons"  # a /note is no longer the drill's


def test_setting_retries_changes_the_resources_and_the_yaml() -> None:
    lv = level("03-lost-notes")
    editor = ConfigEditor(lv)
    key = "VirtualService/dana/spec.http[0].retries.attempts"
    editor.set(key, 3)
    editor.set("VirtualService/dana/spec.http[0].retries.perTryTimeout", "1s")
    assert editor.field(key).value == 3
    policy = mesh_policy(editor.resources(), lv.profile)
    assert policy.retries(policy.rule("dana")).attempts == 3
    assert policy.retries(policy.rule("dana")).per_try_timeout == 1.0
    text = editor.yaml_text()
    assert "attempts: 3" in text and "perTryTimeout: 1s" in text
    assert "PeerAuthentication" not in text  # not editable in level 3: not in the text


def test_clearing_a_field_removes_the_key_and_what_it_leaves_empty() -> None:
    lv = level("03-lost-notes")
    editor = ConfigEditor(lv, lv.solution)
    with pytest.raises(ConfigError, match="Istio refuses a retry policy whose attempts are 0"):
        editor.set("VirtualService/dana/spec.http[0].retries.attempts", None)  # perTryTimeout would stay
    for name in ("retryOn", "perTryTimeout", "attempts"):
        editor.set(f"VirtualService/dana/spec.http[0].retries.{name}", None)
    vs = editor.resources()[1]
    assert vs["spec"]["http"] == [{"timeout": "4s", "route": [{"destination": {"host": "dana"}}]}]


def test_numbers_and_durations_given_as_text_are_converted() -> None:
    editor = ConfigEditor(level("03-lost-notes"))
    editor.set("VirtualService/dana/spec.http[0].retries.attempts", " 4 ")
    editor.set("VirtualService/dana/spec.http[0].timeout", 2.5)
    rule = editor.resources()[1]["spec"]["http"][0]
    assert rule["retries"]["attempts"] == 4
    assert rule["timeout"] == "2.5s"


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("VirtualService/dana/spec.http[0].timeout", "soon", "'soon' is not a duration"),
        ("VirtualService/dana/spec.http[0].retries.attempts", 99, "between 0 and 10"),
        ("VirtualService/dana/spec.http[0].retries.attempts", "two", "whole number"),
        ("VirtualService/dana/spec.http[0].retries.retryOn", "sometimes", "'sometimes' is not a retry"),
    ],
)
def test_an_invalid_field_is_refused_with_its_reason(key: str, value: object, words: str) -> None:
    lv = level("03-lost-notes")
    editor = ConfigEditor(lv)
    before = editor.resources()
    with pytest.raises(ConfigError) as caught:
        editor.set(key, value)
    assert caught.value.key == key and not caught.value.message.startswith("resources[")
    assert words in caught.value.message
    assert editor.resources() == before


def test_a_choice_outside_its_options_is_refused() -> None:
    editor = ConfigEditor(level("08-teacher-in-the-aisle"))
    with pytest.raises(ConfigError, match="one of STRICT, PERMISSIVE, DISABLE"):
        editor.set("PeerAuthentication/default/spec.mtls.mode", "MAYBE")
    editor.set("PeerAuthentication/default/spec.mtls.mode", "STRICT")
    assert mesh_policy(editor.resources()).mtls_mode == "STRICT"


def test_two_weighted_routes_stay_at_100_together() -> None:
    editor = ConfigEditor(level("11-the-new-seat"))
    editor.set("VirtualService/dana/spec.http[0].route[1].weight", 25)
    routes = editor.resources()[2]["spec"]["http"][0]["route"]
    assert [r["weight"] for r in routes] == [75, 25]


def test_weights_are_shares_of_their_total_and_a_total_of_0_is_explained() -> None:
    lv = level("11-the-new-seat")
    resources = plain(list(lv.resources))
    route = resources[2]["spec"]["http"][0]["route"]
    route[:] = [{**route[0], "weight": 50}, {**route[1], "weight": 0}, {**route[1], "weight": 0}]
    editor = ConfigEditor(lv, resources)
    editor.set("VirtualService/dana/spec.http[0].route[0].weight", 10)  # 10 of 10: Istio's weights are relative
    with pytest.raises(ConfigError, match="add up to 0"):
        editor.set("VirtualService/dana/spec.http[0].route[0].weight", 0)
    assert editor.field("VirtualService/dana/spec.http[0].route[0].weight").value == 10


def test_outlier_detection_toggle_creates_and_removes_a_destination_rule() -> None:
    lv = level("04-stubborn-student")
    editor = ConfigEditor(lv)
    toggle = "DestinationRule/fay/spec.trafficPolicy.outlierDetection"
    assert editor.field(toggle).kind == TOGGLE and editor.field(toggle).value is False
    assert "DestinationRule/fay/spec.trafficPolicy.outlierDetection.interval" not in {
        f.key for f in editor.fields()
    }
    editor.set(toggle, True)
    rule = editor.resources()[-1]
    assert rule["kind"] == "DestinationRule" and rule["spec"]["host"] == "fay"
    assert mesh_policy(editor.resources()).traffic("fay").outlier is not None
    editor.set("DestinationRule/fay/spec.trafficPolicy.outlierDetection.consecutive5xxErrors", 1)
    assert editor.resources()[-1]["spec"]["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"] == 1
    editor.set(toggle, False)
    assert [r["kind"] for r in editor.resources()] == ["PeerAuthentication", "VirtualService"]


def test_authorization_rules_edit_principals_and_hosts_as_lists() -> None:
    editor = ConfigEditor(level("10-class-rules"))
    editor.set("AuthorizationPolicy/no-notes-from-gus/spec.selector.matchLabels.app", "alice")
    editor.set("AuthorizationPolicy/no-notes-from-gus/spec.rules[0].to[0].operation.hosts", "penny, dana")
    spec = editor.resources()[1]["spec"]
    assert spec["selector"] == {"matchLabels": {"app": "alice"}}
    assert spec["rules"][0]["to"] == [{"operation": {"hosts": ["penny", "dana"]}}]
    editor.set("AuthorizationPolicy/no-notes-from-gus/spec.rules[0].to[0].operation.hosts", "")
    assert "to" not in editor.resources()[1]["spec"]["rules"][0]
    editor.set("AuthorizationPolicy/no-notes-from-gus/spec.selector.matchLabels.app", None)
    assert "selector" not in editor.resources()[1]["spec"]


def test_an_unknown_field_is_an_error_not_a_crash() -> None:
    with pytest.raises(ConfigError, match="no setting"):
        ConfigEditor(level("01-first-note")).set("VirtualService/nobody/spec.timeout", "1s")


# --------------------------------------------------------------------------- YAML text


def edited(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def line_with(text: str, words: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if words in line)


def test_yaml_text_edit_is_adopted() -> None:
    lv = level("05-absent-friend")
    editor = ConfigEditor(lv)
    editor.apply_yaml(edited(editor.yaml_text(), "timeout: 1s", "timeout: 6s"))
    assert list(editor.resources()) == plain(list(lv.solution or ()))


def test_broken_yaml_gives_its_line_and_keeps_the_last_valid_resources() -> None:
    editor = ConfigEditor(level("03-lost-notes"))
    before = editor.resources()
    text = edited(editor.yaml_text(), "  hosts: [dana]", "  hosts: [dana")
    with pytest.raises(ConfigError) as caught:
        editor.apply_yaml(text)
    assert caught.value.line >= line_with(text, "hosts: [dana")
    assert "not valid YAML" in caught.value.message
    assert editor.resources() == before


def test_an_unknown_key_is_reported_at_its_line() -> None:
    editor = ConfigEditor(level("03-lost-notes"))
    text = edited(editor.yaml_text(), "timeout: 4s", "timeout: 4s\n    retires: {attempts: 2}")
    with pytest.raises(ConfigError) as caught:
        editor.parse_yaml(text)
    assert caught.value.line == line_with(text, "retires")
    assert "unknown key 'retires'" in caught.value.message


def test_a_host_that_is_not_in_the_class_is_reported_at_its_line() -> None:
    editor = ConfigEditor(level("03-lost-notes"))
    text = edited(editor.yaml_text(), "hosts: [dana]", "hosts: [zed]")
    with pytest.raises(ConfigError) as caught:
        editor.parse_yaml(text)
    assert caught.value.line == line_with(text, "hosts: [zed]")
    assert "'zed' is not a student" in caught.value.message


def test_a_service_name_is_a_valid_host() -> None:
    editor = ConfigEditor(level("11-the-new-seat"))  # dana is the app label of dana-v1 and dana-v2
    text = edited(editor.yaml_text(), "weight: 100", "weight: 60")
    editor.apply_yaml(edited(text, "weight: 0", "weight: 40"))
    assert [r["weight"] for r in editor.resources()[2]["spec"]["http"][0]["route"]] == [40, 60]


def test_a_kind_the_level_does_not_let_you_edit_is_refused_at_its_line() -> None:
    editor = ConfigEditor(level("03-lost-notes"))
    extra = "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n"
    text = editor.yaml_text() + extra + "spec:\n  mtls: {mode: DISABLE}\n"
    with pytest.raises(ConfigError) as caught:
        editor.parse_yaml(text)
    assert caught.value.line == line_with(text, "kind: PeerAuthentication")
    assert "cannot be changed in this level" in caught.value.message
    assert "VirtualService" in caught.value.message


def test_an_empty_text_removes_the_editable_resources_and_keeps_the_rest() -> None:
    lv = level("03-lost-notes")
    editor = ConfigEditor(lv)
    editor.apply_yaml("# nothing\n")
    assert [r["kind"] for r in editor.resources()] == ["PeerAuthentication"]
    assert editor.yaml_text().rstrip().endswith("[]")
    editor.apply_yaml(editor.yaml_text())  # the text for "none" reads back as none
    assert [r["kind"] for r in editor.resources()] == ["PeerAuthentication"]


def test_yaml_text_keeps_the_level_kinds_and_api_versions() -> None:
    text = ConfigEditor(level("12-id-card-renewal")).yaml_text()
    assert "apiVersion: classroom.mesh/v1\nkind: IdentityPolicy" in text
    assert text.count("\n---\n") + text.startswith("---") == 1
