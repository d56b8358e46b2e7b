"""``--config FILE``: reading it, checking it, and merging it into its level (``mesh.editable``).

One merge, :func:`classroom.level.merge_editable`, serves the command line and the window's config
panel; the tests at the end pin that both give the same resources in the same order.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LEVELS, REPO
from test_level import BASE, write

from classroom.game.model.configedit import ConfigEditor
from classroom.level import LevelError, load_config, load_level, merge_editable

pytestmark = pytest.mark.timeout(180)

# --------------------------------------------------------------------------- reading and checking

PA = """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec: {mtls: {mode: STRICT}}
"""
VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ben}
spec:
  hosts: [ben]
  http:
    - timeout: 5s
      route: [{destination: {host: ben}}]
"""


def test_config_list(tmp_path: Path) -> None:
    text = "- " + PA.replace("\n", "\n  ") + "\n- " + VS.replace("\n", "\n  ")
    resources = load_config(write(tmp_path, text, "mesh.yaml"))
    assert [r["kind"] for r in resources] == ["PeerAuthentication", "VirtualService"]


def test_config_documents(tmp_path: Path) -> None:
    resources = load_config(write(tmp_path, f"---\n{PA}---\n{VS}---\n", "mesh.yaml"))
    assert [r["kind"] for r in resources] == ["PeerAuthentication", "VirtualService"]
    assert load_config(write(tmp_path, PA, "one.yaml"))[0]["kind"] == "PeerAuthentication"
    assert load_config(write(tmp_path, "[]\n", "none.yaml")) == ()


def test_config_bad_resource_in_a_document(tmp_path: Path) -> None:
    text = f"{PA}---\n{VS.replace('timeout: 5s', 'timeout: 5 s')}"
    path = write(tmp_path, text, "mesh.yaml")
    with pytest.raises(LevelError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:12: resources[1].spec.http[0].timeout: ")


def test_config_bad_resource_in_a_list(tmp_path: Path) -> None:
    text = "- " + PA.replace("\n", "\n  ") + "\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: x}\n"
    path = write(tmp_path, text, "mesh.yaml")
    with pytest.raises(LevelError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:7: resources[1].kind must be one of ")


@pytest.mark.parametrize(
    "text, line, phrase",
    [
        ("", 1, "the configuration is empty"),
        ("mtls: [\n", 2, "not valid YAML"),
        ("just words\n", 1, "must hold a YAML list of resources"),
        ("- 42\n", 1, "resources[0] must be a mapping"),
    ],
)
def test_config_bad_file(tmp_path: Path, text: str, line: int, phrase: str) -> None:
    path = write(tmp_path, text, "mesh.yaml")
    with pytest.raises(LevelError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:{line}: ") and phrase in str(info.value)


def test_config_against_a_level(tmp_path: Path) -> None:
    level = load_level(write(tmp_path, BASE, "tiny.yaml"))
    path = write(tmp_path, VS.replace("[ben]", "[dana]"), "mesh.yaml")
    assert load_config(path)  # without a level, any host will do
    with pytest.raises(LevelError) as info:
        load_config(path, level)
    assert str(info.value).startswith(f"{path}:5: resources[0].spec.hosts[0] 'dana' is not a student")


# --------------------------------------------------------------------------- against a level


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


# --------------------------------------------------------------------------- the one merge


def resource(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    api = "security.istio.io/v1" if kind == "PeerAuthentication" else "networking.istio.io/v1"
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name}, "spec": spec}


def vs(name: str, host: str) -> dict[str, Any]:
    return resource("VirtualService", name, hosts=[host], http=[{"route": [{"destination": {"host": host}}]}])


def test_the_merge_replaces_editable_resources_in_place_and_adds_the_rest_at_the_end(tmp_path: Path) -> None:
    level = replace(load_level(write(tmp_path, BASE, "tiny.yaml")), editable=("VirtualService",))
    pa = resource("PeerAuthentication", "default", mtls={"mode": "STRICT"})
    dr = resource("DestinationRule", "ben", host="ben")
    old = resource("VirtualService", "old", hosts=["ben"])
    new = resource("VirtualService", "new", hosts=["ben"])
    extra = resource("VirtualService", "x", hosts=["cara"])
    assert merge_editable(level, [pa, old, dr], [new, extra]) == (pa, new, dr, extra)
    assert merge_editable(level, [pa, old, dr], []) == (pa, dr)  # the config removes what it leaves out
    assert merge_editable(level, [pa, old, dr], [dict(dr), new]) == (pa, new, dr)  # a repeat is no change
    with pytest.raises(LevelError) as info:
        merge_editable(level, [pa, old], [new, resource("DestinationRule", "ben", host="ben")], "mine.yaml")
    message = str(info.value)
    assert message.startswith("mine.yaml: resources[1] adds the DestinationRule 'ben', but level tiny")


def test_a_level_with_no_editable_kinds_takes_the_whole_config(tmp_path: Path) -> None:
    level = load_level(write(tmp_path, BASE, "tiny.yaml"))
    assert level.editable == ()
    mine = [resource("VirtualService", "new", hosts=["ben"])]
    assert merge_editable(level, [resource("PeerAuthentication", "default")], mine) == tuple(mine)


def test_a_fixed_resource_changed_in_a_document_is_refused_at_its_line(tmp_path: Path) -> None:
    level = load_level(str(LEVELS / "03-lost-notes.yaml"))  # editable: VirtualService only
    documents = plain(level.resources)
    for r in documents:
        if r["kind"] == "PeerAuthentication":
            r["spec"] = {"mtls": {"mode": "DISABLE"}}
    config = tmp_path / "mesh.yaml"
    config.write_text(yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True))
    lines = config.read_text().splitlines()
    index = next(i for i, r in enumerate(documents) if r["kind"] == "PeerAuthentication")
    line = [i for i, text in enumerate(lines, 1) if text == "---"][index] + 1
    with pytest.raises(LevelError) as info:
        load_config(str(config), level)
    assert str(info.value).startswith(f"{config}:{line}: resources[{index}] changes the PeerAuthentication")


def test_a_config_keeps_the_order_of_the_level(tmp_path: Path) -> None:
    mesh = [vs("ben", "ben"), resource("PeerAuthentication", "default")]
    text = BASE + yaml.safe_dump({"mesh": {"resources": mesh, "editable": ["VirtualService"]}})
    level = load_level(write(tmp_path, text, "tiny.yaml"))
    mine = [resource("PeerAuthentication", "default"), vs("ben", "cara")]
    resources = load_config(str(write_config(tmp_path, mine)), level)
    assert plain(resources) == [mine[1], mine[0]]  # the editable one where the level has its own


@pytest.mark.parametrize("stem", sorted(p.stem for p in LEVELS.glob("*.yaml")))
def test_the_config_panel_and_a_config_file_merge_alike(tmp_path: Path, stem: str) -> None:
    level = load_level(str(LEVELS / f"{stem}.yaml"))
    text = ConfigEditor(level, level.solution).yaml_text()  # the solution's editable part
    config = tmp_path / "mesh.yaml"
    config.write_text(text)
    assert list(ConfigEditor(level).parse_yaml(text)) == plain(load_config(str(config), level))
