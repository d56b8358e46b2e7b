"""`--config FILE` against a level: service hosts are accepted, `mesh.editable` is enforced."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LEVELS, REPO

from classroom.level import LevelError, load_config, load_level

pytestmark = pytest.mark.timeout(180)


def classroom(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "classroom.cli", *args], capture_output=True, text=True,
                          timeout=150, cwd=REPO)


def plain(resources: Any) -> list[dict[str, Any]]:
    """Resources as plain YAML-able data (the loader's line-remembering dicts are not)."""
    return json.loads(json.dumps(list(resources)))


def write_config(tmp_path: Path, resources: list[dict[str, Any]]) -> Path:
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(resources, sort_keys=False))
    return path


def test_the_new_seat_solution_as_a_config_file_wins(tmp_path: Path) -> None:
    # Its VirtualService and DestinationRule name the service dana, which only app labels define.
    level = load_level(str(LEVELS / "11-the-new-seat.yaml"))
    config = write_config(tmp_path, plain(level.solution))
    done = classroom("run", str(LEVELS / "11-the-new-seat.yaml"), "--headless", "--quiet", "--speed", "4",
                     "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_config_may_leave_out_what_it_cannot_edit(tmp_path: Path) -> None:
    level = load_level(str(LEVELS / "11-the-new-seat.yaml"))  # editable: VirtualService only
    assert level.solution is not None
    service = [r for r in plain(level.solution) if r["kind"] == "VirtualService"]
    resources = load_config(str(write_config(tmp_path, service)), level)
    assert sorted(r["kind"] for r in resources) == ["DestinationRule", "PeerAuthentication", "VirtualService"]
    kept = [r for r in resources if r["kind"] != "VirtualService"]
    assert kept == [r for r in level.resources if r["kind"] != "VirtualService"]
    assert [r for r in resources if r["kind"] == "VirtualService"] == service


def test_a_config_that_changes_a_fixed_kind_is_refused_at_its_line(tmp_path: Path) -> None:
    level = load_level(str(LEVELS / "03-lost-notes.yaml"))  # editable: VirtualService only
    resources = plain(level.resources)
    for resource in resources:
        if resource["kind"] == "PeerAuthentication":
            resource["spec"] = {"mtls": {"mode": "DISABLE"}}
    config = write_config(tmp_path, resources)
    lines = config.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "kind: PeerAuthentication" in text)
    with pytest.raises(LevelError) as info:
        load_config(str(config), level)
    message = str(info.value)
    assert message.startswith(f"{config}:{line - 1}: resources[0] changes the PeerAuthentication 'default'")
    assert "edit only VirtualService" in message
    done = classroom("run", str(LEVELS / "03-lost-notes.yaml"), "--headless", "--config", str(config))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"classroom: error: {message}"]


def test_a_config_cannot_add_a_fixed_kind(tmp_path: Path) -> None:
    level = load_level(str(LEVELS / "03-lost-notes.yaml"))
    rule = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "dana"},
            "spec": {"host": "dana", "trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 1}}}}
    config = write_config(tmp_path, [*plain(level.resources), rule])
    with pytest.raises(LevelError) as info:
        load_config(str(config), level)
    assert "resources[2] adds the DestinationRule 'dana'" in str(info.value)


def test_every_solution_is_a_valid_config_of_its_level(tmp_path: Path) -> None:
    for path in sorted(LEVELS.glob("*.yaml")):
        level = load_level(str(path))
        assert level.solution is not None
        resources = load_config(str(write_config(tmp_path, plain(level.solution))), level)
        assert sorted(map(str, plain(resources))) == sorted(map(str, plain(level.solution))), path.name
