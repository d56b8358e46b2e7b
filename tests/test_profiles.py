"""The seven meshes' defaults as a user meets them: what the loader refuses, what the policy does with no rules."""

from __future__ import annotations

import pytest
from conftest import LEVELS, level_doc

from classroom.level import PROFILES as LEVEL_PROFILES
from classroom.level import LevelError, load_config, load_level
from classroom.mesh.control.compile import mesh_policy
from classroom.mesh.control.policy import DISABLE, PERMISSIVE, STRICT
from classroom.mesh.control.profiles import PER_ROW, PROFILES, SIDECAR
from classroom.mesh.runtime.round import proxy_groups


def test_the_loader_and_the_table_know_the_same_seven() -> None:
    assert tuple(PROFILES) == LEVEL_PROFILES == ("istio", "linkerd", "cilium", "traefik", "consul", "appmesh",
                                                 "nginx")


@pytest.mark.parametrize(("profile", "mode", "attempts"), [
    ("istio", PERMISSIVE, 2),  # as the game always had it
    ("linkerd", PERMISSIVE, 0),  # mTLS between meshed hands; plaintext from unmeshed ones accepted
    ("consul", STRICT, 0),
    ("traefik", DISABLE, 0),  # no mTLS at all
    ("cilium", DISABLE, 0),  # no encryption unless configured
    ("appmesh", DISABLE, 2),  # TLS opt-in; App Mesh's default route retry policy
    ("nginx", PERMISSIVE, 0),
])
def test_with_no_rules_each_mesh_runs_its_own_defaults(profile: str, mode: str, attempts: int) -> None:
    policy = mesh_policy((), profile)
    assert policy.mtls_mode == mode
    assert policy.retries(policy.rule("dana")).attempts == attempts


def test_istio_defaults_are_what_they_were() -> None:
    policy = mesh_policy((), "istio")
    retries = policy.retries(policy.rule("dana"))
    assert retries.retry_on == ("cancelled", "connect-failure", "refused-stream", "unavailable")


def test_app_mesh_retries_what_its_default_policy_lists() -> None:
    policy = mesh_policy((), "appmesh")
    assert policy.retries(policy.rule("dana")).retry_on == ("503", "connect-failure", "refused-stream")


def test_an_unset_mode_inherits_the_mesh_default() -> None:
    unset = [{"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": {"name": "default"},
              "spec": {"mtls": {"mode": "UNSET"}}}]
    assert mesh_policy(unset, "istio").mtls_mode == PERMISSIVE
    assert mesh_policy(unset, "cilium").mtls_mode == DISABLE


def test_id_cards_last_as_long_as_each_mesh_makes_them() -> None:
    assert mesh_policy((), "istio").identity.cert_lifetime == 24 * 3600
    assert mesh_policy((), "consul").identity.cert_lifetime == 72 * 3600
    assert mesh_policy((), "appmesh").identity.cert_lifetime == 3600  # no mesh default: the classroom's


def test_per_row_meshes_serve_a_row_from_one_proxy(write_level) -> None:
    for profile in PROFILES:
        doc = level_doc()
        doc["mesh"] = {"profile": profile}
        groups = proxy_groups(load_level(str(write_level(doc))))
        if PROFILES[profile].architecture == PER_ROW:
            assert sorted(len(g) for g in groups) == [1, 6], profile
        else:
            assert PROFILES[profile].architecture == SIDECAR and all(len(g) == 1 for g in groups), profile


@pytest.mark.parametrize(("profile", "instead"), [
    ("linkerd", "linkerd does this with automatic mTLS between every meshed pod, always on"),
    ("consul", "consul does this with its sidecars' mTLS, always on"),
    ("traefik", "traefik does this with nothing: there is no mTLS in Traefik Mesh"),
])
def test_a_peer_authentication_is_refused_at_its_line_where_the_mesh_has_none(
        write_level, profile: str, instead: str) -> None:
    doc = level_doc()  # its resources hold one PeerAuthentication
    doc["mesh"]["profile"] = profile
    path = write_level(doc)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "kind: PeerAuthentication" in text)
    with pytest.raises(LevelError) as caught:
        load_level(str(path))
    assert str(caught.value).startswith(
        f"{path}:{line}: mesh.resources[0].kind: PeerAuthentication is not a {profile} resource; {instead}")


def test_a_config_is_checked_under_the_level_profile(write_level, tmp_path) -> None:
    doc = level_doc()
    doc["mesh"] = {"profile": "consul"}
    level = load_level(str(write_level(doc)))
    config = tmp_path / "mine.yaml"
    config.write_text("- apiVersion: security.istio.io/v1\n  kind: PeerAuthentication\n"
                      "  metadata: {name: default}\n  spec: {mtls: {mode: DISABLE}}\n")
    with pytest.raises(LevelError, match=r"mine.yaml:2: resources\[0\].kind: PeerAuthentication is not a consul"):
        load_config(str(config), level)


def test_the_game_levels_load_each_under_its_mesh() -> None:
    profiles = {path.stem: load_level(str(path)).profile for path in sorted(LEVELS.glob("*.yaml"))}
    assert profiles.pop("21-no-locks-at-all") == "traefik"
    assert profiles.pop("26-good-intentions") == "consul"
    assert profiles.pop("22-who-may-knock") == profiles.pop("23-one-more-try") == "linkerd"
    assert profiles.pop("24-the-closed-door") == "cilium"
    assert profiles.pop("25-read-only-homework") == "cilium"
    # The levels before them are Istio's, unchanged (other chapters add their own above).
    assert {p for name, p in profiles.items() if name < "21"} == {"istio"}


def test_a_migration_is_in_the_chapter_of_the_mesh_it_leaves_and_runs_the_one_it_moves_to() -> None:
    chapters = {lv.name: (lv.mesh_chapter, lv.profile) for lv in (load_level(str(p)) for p in LEVELS.glob("*.yaml"))}
    assert chapters["leaving-app-mesh"] == ("appmesh", "istio")
    assert chapters["leaving-nginx-mesh"] == ("nginx", "istio")
    assert chapters["good-intentions"] == ("consul", "consul")  # no chapter written: its own mesh's


def test_a_chapter_must_be_one_of_the_seven(write_level) -> None:
    doc = level_doc()
    doc["metadata"]["chapter"] = "kuma"
    path = write_level(doc)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "chapter: kuma" in text)
    with pytest.raises(LevelError) as caught:
        load_level(str(path))
    assert str(caught.value).startswith(f"{path}:{line}: metadata.chapter must be one of istio, linkerd")


def test_run_says_which_mesh_the_class_runs_in_one_line(write_level) -> None:
    import subprocess
    import sys

    from conftest import REPO

    doc = level_doc(traffic=[{"from": "alice", "to": "cara", "count": 3, "every": "10ms", "text": "psst"}])
    doc["mesh"] = {"profile": "traefik"}
    done = subprocess.run([sys.executable, "-m", "classroom.cli", "run", str(write_level(doc)), "--headless",
                           "--quiet"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    line = ("mesh: Traefik Mesh (traefik): one proxy per row; by default no mTLS at all: every pass is plaintext; "
            "no default retries; no ID cards; RETIRED: dormant")
    assert line in done.stderr and line in done.stdout  # as the round starts, and in its summary


def test_analyze_warns_that_traefik_lets_the_teacher_read_with_no_rule_at_all(tmp_path) -> None:
    import yaml

    from classroom.analyze import analyze

    doc = yaml.safe_load((LEVELS / "08-teacher-in-the-aisle.yaml").read_text())
    doc["mesh"] = {"profile": "traefik"}
    doc.pop("solution")
    path = tmp_path / "t8.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    codes = {m.type.code for m in analyze((), load_level(str(path)))}
    assert {"CLS0002", "CLS0003"} <= codes


def test_the_traefik_level_refuses_the_istio_fix_at_its_line(tmp_path) -> None:
    import subprocess
    import sys

    from conftest import REPO

    config = tmp_path / "strict.yaml"
    config.write_text("- apiVersion: security.istio.io/v1\n  kind: PeerAuthentication\n"
                      "  metadata: {name: default}\n  spec: {mtls: {mode: STRICT}}\n")
    done = subprocess.run([sys.executable, "-m", "classroom.cli", "run", "no-locks-at-all", "--headless",
                           "--config", str(config)], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert (f"{config}:2: resources[0].kind: PeerAuthentication is not a traefik resource; traefik does this "
            "with nothing: there is no mTLS in Traefik Mesh") in done.stderr


def test_levels_lists_the_campaign_chapter_by_chapter_naming_each_mesh() -> None:
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "classroom.cli", "levels"], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if "│" in line and line.split("│")[1].strip()]
    meshes = [row.split("│")[3].strip() for row in rows[1:]]
    assert meshes[0] == "Istio" and "Traefik Mesh (dormant)" in meshes
    # a chapter's levels stand together: once a mesh's chapter ends, it does not come back
    ended: set[str] = set()
    for before, after in zip(meshes, meshes[1:], strict=False):
        if before != after:
            ended.add(before)
            assert after not in ended, meshes


def test_linkerd_balances_by_peak_ewma_where_the_envoy_meshes_count_requests() -> None:
    assert mesh_policy((), "linkerd").default_balancer == "PEAK_EWMA"
    assert {mesh_policy((), name).default_balancer for name in PROFILES if name != "linkerd"} == {"LEAST_REQUEST"}


def test_the_lesson_card_names_the_mesh_its_shape_its_defaults_and_whether_it_is_maintained() -> None:
    traefik, linkerd, istio = PROFILES["traefik"].facts(), PROFILES["linkerd"].facts(), PROFILES["istio"].facts()
    assert traefik[0] == "Traefik Mesh: one proxy per row" and traefik[-1].startswith("RETIRED: dormant")
    assert PROFILES["traefik"].status == "dormant" and PROFILES["appmesh"].status == "retired"
    assert PROFILES["istio"].status == "" and not any("RETIRED" in fact for fact in istio)
    assert "balances by latency (EWMA)" in linkerd and "2 retries by default" in istio
