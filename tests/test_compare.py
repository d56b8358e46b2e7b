"""`classroom compare` as a user runs it: real rounds, one per mesh, and the numbers a reader compares."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from classroom.compare import JSON_KEYS

pytestmark = pytest.mark.timeout(240)


def classroom(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "classroom.cli", *args], capture_output=True, text=True,
                          timeout=220, cwd=REPO)


def test_the_teacher_reads_the_notes_of_a_mesh_without_mtls_and_none_of_the_others(tmp_path: Path) -> None:
    report_file = tmp_path / "compare.json"
    done = classroom("compare", "teacher-in-the-aisle", "--profiles", "istio,traefik,linkerd,consul,cilium",
                     "--speed", "4", "--json", "--report", str(report_file))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["level"] == "teacher-in-the-aisle"
    rows = summary["profiles"]
    assert list(rows) == ["istio", "traefik", "linkerd", "consul", "cilium"]
    for name, row in rows.items():
        assert set(JSON_KEYS) <= set(row), name
        assert row["delivered_ratio"] == 1.0, name
        assert row["pss_mb"] > 10 and row["processes"] > row["proxy_processes"] > 0, name
    # Traefik Mesh has no mTLS and Cilium encrypts nothing by default: she reads the notes there.
    assert rows["traefik"]["teacher_read"] > 0 and rows["cilium"]["teacher_read"] > 0
    assert rows["istio"]["teacher_read"] == rows["linkerd"]["teacher_read"] == rows["consul"]["teacher_read"] == 0
    # Only Consul's always-STRICT sidecars refuse her plaintext forgeries.
    assert rows["consul"]["forged_accepted"] == 0 < rows["istio"]["forged_accepted"]
    # A proxy per row (two rows) against a sidecar per student (eight).
    assert rows["traefik"]["proxy_processes"] == rows["cilium"]["proxy_processes"] == 2
    assert rows["istio"]["proxy_processes"] == rows["consul"]["proxy_processes"] == 8
    assert rows["traefik"]["retired"] and not rows["istio"]["retired"]
    # The side-by-side table a person reads, and the whole reports for a script.
    assert "teacher read" in done.stdout and "proxy processes" in done.stdout
    written = json.loads(report_file.read_text())
    assert written["profiles"] == rows and set(written["reports"]) == set(rows)
    assert written["reports"]["traefik"]["links"][0]["tls"] == "none"


def test_a_config_dir_gives_one_mesh_its_rules_checked_under_that_mesh(tmp_path: Path) -> None:
    strict = ("- apiVersion: security.istio.io/v1\n  kind: PeerAuthentication\n"
              "  metadata: {name: default}\n  spec: {mtls: {mode: STRICT}}\n")
    (tmp_path / "cilium.yaml").write_text(strict)  # the classroom's stand-in for turning encryption on
    done = classroom("compare", "teacher-in-the-aisle", "--profiles", "cilium", "--speed", "4", "--json",
                     "--config-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout.strip().splitlines()[-1])["profiles"]["cilium"]
    assert row["teacher_read"] == 0 and row["forged_accepted"] == 0

    (tmp_path / "linkerd.yaml").write_text(strict)
    refused = classroom("compare", "teacher-in-the-aisle", "--profiles", "linkerd", "--config-dir", str(tmp_path))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == (
        f"classroom: error: {tmp_path / 'linkerd.yaml'}:2: resources[0].kind: PeerAuthentication is not a "
        "linkerd resource; linkerd does this with automatic mTLS between every meshed pod, always on: no setting "
        "turns it off (who may send is a Server and an AuthorizationPolicy of policy.linkerd.io)")


@pytest.mark.parametrize("profiles", ["istio,kuma", "istio,istio", ""])
def test_a_bad_profile_list_is_one_line_naming_the_seven(profiles: str) -> None:
    done = classroom("compare", "teacher-in-the-aisle", "--profiles", profiles)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "the seven are istio, linkerd, cilium, traefik, consul, appmesh, nginx" in done.stderr


def test_a_missing_config_dir_report_dir_or_level_is_bad_input_before_any_round(tmp_path: Path) -> None:
    assert classroom("compare", "teacher-in-the-aisle", "--config-dir", str(tmp_path / "nope")).returncode == 2
    nowhere = classroom("compare", "teacher-in-the-aisle", "--report", str(tmp_path / "nope" / "r.json"))
    assert nowhere.returncode == 2 and nowhere.stderr.count("\n") == 1 and "no such directory" in nowhere.stderr
    missing = classroom("compare", "no-such-level")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
