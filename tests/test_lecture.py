"""Lecture scripts: checked like a level, and played on real rounds (a real pause, live pushes)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, level_doc

from classroom.level import LevelError, load_level
from classroom.level.script import load_script, merge
from classroom.mesh.runtime.round import Round, wait_gone
from classroom.report import build_report

LECTURES = sorted((REPO / "classroom" / "data" / "lectures").glob("*.yaml"))


def script(tmp_path: Path, text: str) -> str:
    path = tmp_path / "script.yaml"
    path.write_text(text)
    return str(path)


# --- the script file ---------------------------------------------------------------------------------

def test_a_script_reads_every_step(tmp_path: Path, write_level) -> None:
    level = load_level(str(write_level()))
    steps = load_script(script(tmp_path, """\
- {at: 1s, do: pause, for: 2s, say: Look}
- {do: step, by: 100ms}
- {do: resume}
- {at: 2s, do: set, resources: [{apiVersion: security.istio.io/v1, kind: PeerAuthentication,
                                 metadata: {name: default}, spec: {mtls: {mode: PERMISSIVE}}}]}
- {do: leave, student: ben}
- {do: cut, link: [cara, ben]}
- {do: slow, link: [ben, alice], latency: 300ms}
- {do: ask, question: "Who routes around ben?", answers: [the office, nobody]}
- {say: That is the control plane., notes: Mention istiod.}
"""), level)
    assert [s.do for s in steps] == ["pause", "step", "resume", "set", "leave", "cut", "slow", "ask", "say"]
    assert steps[0].at == 1.0 and steps[0].seconds == 2.0 and steps[0].say == "Look"
    assert steps[1].seconds == 0.1
    assert steps[3].resources[0]["spec"]["mtls"]["mode"] == "PERMISSIVE"
    assert steps[5].link == ("ben", "cara") and steps[6].seconds == 0.3
    assert steps[7].answers == ("the office", "nobody")
    assert steps[8].notes == "Mention istiod." and steps[0].notes == ""


@pytest.mark.parametrize(("text", "line", "phrase"), [
    ("- {do: dance}\n", 1, "steps[0].do must be one of pause"),
    ("- {do: pause}\n- {do: leave, student: zed}\n", 2, "'zed' is not a student"),
    ("- {do: cut, link: [alice, fay]}\n", 1, "is not a link of the room"),
    ("- {at: 3s, do: pause}\n- {at: 1s, do: resume}\n", 2, "goes back in time"),
    ("- {do: ask, question: Why, answers: [one]}\n", 1, "two to four answers"),
    ("- {do: speed, rate: 4}\n", 1, "between 0.1 and 1"),
    ("- {do: pause, lasts: 2s}\n", 1, "unknown key 'lasts'"),
    ("- do: set\n  resources:\n    - {apiVersion: security.istio.io/v1, kind: PeerAuthentication,\n"
     "       metadata: {name: default}, spec: {mtls: {mode: STRICTER}}}\n", 4, "STRICTER"),
    ("", 1, "the script is empty"),
])
def test_a_bad_script_gets_one_line_naming_where(tmp_path: Path, write_level, text: str, line: int,
                                                 phrase: str) -> None:
    level = load_level(str(write_level()))
    path = script(tmp_path, text)
    with pytest.raises(LevelError) as info:
        load_script(path, level)
    assert info.value.line == line and phrase in info.value.message, str(info.value)


def test_a_push_replaces_what_has_its_kind_and_name_as_kubectl_apply_does() -> None:
    def pa(name: str, mode: str) -> dict[str, Any]:
        return {"kind": "PeerAuthentication", "metadata": {"name": name}, "spec": {"mtls": {"mode": mode}}}

    merged = merge((pa("default", "PERMISSIVE"), pa("ben", "DISABLE")), (pa("default", "STRICT"), pa("eli", "STRICT")))
    assert merged == (pa("default", "STRICT"), pa("ben", "DISABLE"), pa("eli", "STRICT"))


def test_run_with_a_bad_script_says_where_in_one_line(tmp_path: Path) -> None:
    path = script(tmp_path, "- {do: leave, student: nobody}\n")
    proc = subprocess.run([sys.executable, "-m", "classroom.cli", "run", "first-note", "--headless",
                           "--script", path], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and f"{path}:1:" in proc.stderr, proc.stderr


# --- played on real rounds -------------------------------------------------------------------------

async def play(write_level, doc: dict[str, Any], text: str, tmp_path: Path,
               seen: list[tuple[float, dict[str, Any]]] | None = None) -> tuple[dict[str, Any], list[Any]]:
    level = load_level(str(write_level(doc)))
    steps = load_script(script(tmp_path, text), level)

    def on_event(event: dict[str, Any]) -> None:
        if seen is not None:
            seen.append((time.monotonic(), event))

    round_ = Round(level, level.resources, seed=level.seed, script=steps, on_event=on_event)
    result = await round_.run()
    assert wait_gone(round_.pids()) == []
    return build_report(level, level.seed, result.events, result.processes), result.events


async def test_a_pause_stops_the_whole_class_and_resuming_loses_nothing(write_level, tmp_path: Path) -> None:
    doc = level_doc(traffic=[{"from": "alice", "to": "fay", "count": 40, "every": "50ms", "text": "tick"}],
                    room={"rows": 2, "cols": 6, "passing_time": "100ms", "links": "neighbours"})
    seen: list[tuple[float, dict[str, Any]]] = []
    report, events = await play(write_level, doc, "- {at: 600ms, do: pause, for: 2s}\n", tmp_path, seen)
    paused = next(real for real, e in seen if e["kind"] == "paused")
    resumed = next(real for real, e in seen if e["kind"] == "resumed")
    assert resumed - paused >= 1.9  # a real two seconds
    # Nothing moves once a passing time has gone by (events come in batches of a few ms).
    moved = [e["kind"] for real, e in seen if paused + 0.3 < real < resumed and e["kind"] in
             ("delivered", "forwarded", "sent", "result")]
    assert moved == []
    moved_before = [e for real, e in seen if real < paused and e["kind"] == "delivered"]
    assert moved_before and len(moved_before) < 40  # the pause fell while notes were flowing
    assert report["ledger_ok"] and report["notes"]["delivered"] == 40 and report["notes"]["duplicates"] == 0


def pa(mode: str) -> dict[str, Any]:
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": {"name": "default"},
            "spec": {"mtls": {"mode": mode}}}


async def test_strict_pushed_live_fails_exactly_the_unmeshed_student_and_permissive_heals(
        write_level, tmp_path: Path) -> None:
    doc = level_doc(mode="PERMISSIVE", traffic=[
        {"from": "gus", "to": "alice", "count": 60, "every": "100ms", "text": "from outside the mesh"},
        {"from": "cara", "to": "fay", "count": 60, "every": "100ms", "text": "inside the mesh"}])
    next(s for s in doc["students"] if s["name"] == "gus")["meshed"] = False
    text = yaml.safe_dump([{"at": "1500ms", "do": "set", "resources": [pa("STRICT")]},
                           {"at": "3500ms", "do": "set", "resources": [pa("PERMISSIVE")]}])
    report, events = await play(write_level, doc, text, tmp_path)
    pushed = [e for e in events if e.get("kind") == "config_pushed"]
    strict_at = next(e["t"] for e in events if e.get("kind") == "rules_set")
    assert [e["version"] for e in pushed][-2:] == [pushed[-2]["version"], pushed[-2]["version"] + 1]
    sent = {e["note"]: e["t"] for e in events if e.get("kind") == "sent"}
    outcome = {e["note"]: e for e in events if e.get("kind") == "result"}
    gus = sorted((sent[n], outcome[n]["state"]) for n in sent if n.startswith("gus>"))
    cara = [outcome[n]["state"] for n in sent if n.startswith("cara>")]
    assert cara == ["delivered"] * 60  # the meshed class never notices
    failed = [t - strict_at for t, state in gus if state == "failed"]
    assert failed, "STRICT let the unmeshed student's plaintext through"
    assert all(t > -0.5 for t in failed)  # nothing failed before the push (bar notes already in the air)
    assert [state for _, state in gus[-10:]] == ["delivered"] * 10  # PERMISSIVE healed her
    assert [state for _, state in gus[:10]] == ["delivered"] * 10
    assert any(e.get("kind") == "tls_rejected" and "STRICT" in str(e.get("reason")) for e in events)
    assert report["ledger_ok"]


async def test_a_student_sent_out_is_routed_around_and_comes_back(write_level, tmp_path: Path) -> None:
    # A 2x3 room: alice's notes to fay can go through ben or through gus's row.
    doc = level_doc(traffic=[{"from": "alice", "to": "cara", "count": 40, "every": "100ms", "text": "around"}])
    doc["students"] = [{"name": n, "seat": s} for n, s in
                       {"alice": [0, 0], "ben": [0, 1], "cara": [0, 2], "dev": [1, 0], "eli": [1, 1],
                        "fay": [1, 2]}.items()]
    doc["room"] = {"rows": 2, "cols": 3, "passing_time": "0ms", "links": "neighbours"}
    text = "- {at: 1s, do: leave, student: ben}\n- {at: 2500ms, do: back, student: ben}\n"
    report, events = await play(write_level, doc, text, tmp_path)
    left = next(e["t"] for e in events if e.get("kind") == "student_left" and e.get("hand") == "ben")
    back = next(e["t"] for e in events if e.get("kind") == "student_back" and e.get("hand") == "ben")
    paths = [(e["t"], e["path"]) for e in events if e.get("kind") == "result" and e["state"] == "delivered"]
    assert any("ben" in p for t, p in paths if t < left)
    around = [p for t, p in paths if left + 0.5 < t < back]
    assert around and all("ben" not in p for p in around)  # the office routed around her
    assert report["ledger_ok"] and report["notes"]["delivered"] >= 38


@pytest.mark.parametrize("lecture", LECTURES, ids=[p.stem for p in LECTURES])
def test_every_shipped_lecture_script_runs(lecture: Path, tmp_path: Path) -> None:
    # A lecture is named after its level: lectures/the-impostor.yaml plays level the-impostor.
    proc = subprocess.run([sys.executable, "-m", "classroom.cli", "run", lecture.stem, "--headless", "--quiet",
                           "--speed", "2", "--script", str(lecture), "--report", str(tmp_path / "r.json")],
                          capture_output=True, text=True, cwd=REPO, timeout=240)
    assert proc.returncode in (0, 1), proc.stderr
    report = yaml.safe_load((tmp_path / "r.json").read_text())
    assert report["ledger_ok"], report["notes"]


def test_lectures_are_shipped() -> None:
    assert len(LECTURES) >= 3



def test_the_window_session_pauses_the_whole_class_and_a_key_ends_a_scripted_wait(write_level, tmp_path) -> None:
    from classroom.game.model.session import Session

    doc = level_doc(traffic=[{"from": "alice", "to": "fay", "count": 30, "every": "100ms", "text": "tick"}])
    level = load_level(str(write_level(doc)))
    steps = load_script(script(tmp_path, "- {at: 300ms, do: wait_key, say: Press a key}\n"), level)
    session = Session(level, level.resources, level.seed, script=steps, keys=True, record_dir=tmp_path).start()
    seen: list[dict[str, Any]] = []
    try:
        said = session.said.get(timeout=60)  # the script reached its wait and says so
        assert said.say == "Press a key"
        assert session.control("pause")
        assert session.wait_for("paused", 30) is not None, "the class never stood still"
        frozen = session.now()
        assert session.paused
        session.press_key()
        assert session.control("resume")
        assert session.wait(120), "the round did not end"
        seen += session.drain()
    finally:
        session.stop()
    kinds = [e["kind"] for e in seen]
    assert "paused" in kinds and "resumed" in kinds
    assert session.report is not None and session.report["notes"]["delivered"] == 30
    assert session.now() > frozen


@pytest.mark.parametrize(("argv", "phrase"), [
    (["teach", "--script", "x.yaml"], "--script needs a LEVEL"),
    (["teach", "first-note", "--script", "no-such-script.yaml"], "no-such-script.yaml: no such file"),
    (["teach", "first-note", "--screen", "big"], "--screen"),
])
def test_teach_refuses_bad_input_in_one_line(argv: list[str], phrase: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "classroom.cli", *argv], capture_output=True, text=True, cwd=REPO,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(REPO)})
    assert proc.returncode == 2 and phrase in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_key_pressed_just_before_a_scripted_wait_lets_it_go_on(write_level, tmp_path) -> None:
    from classroom.game.model.session import Session

    doc = level_doc(traffic=[{"from": "alice", "to": "fay", "count": 20, "every": "100ms", "text": "tick"}])
    level = load_level(str(write_level(doc)))
    steps = load_script(script(tmp_path, "- {at: 200ms, say: Soon a question}\n- {at: 700ms, do: wait_key}\n"
                                         "- {say: It went on}\n"), level)
    session = Session(level, level.resources, level.seed, script=steps, keys=True, record_dir=tmp_path).start()
    try:
        assert session.said.get(timeout=60).say == "Soon a question"
        session.press_key()  # before the script waits for it: latched, not lost
        went_on = session.wait_for("script_step", 60, say="It went on")
        assert went_on is not None, "the key pressed before the wait was lost"
        assert session.wait(120)
    finally:
        session.stop()


async def test_a_failing_script_step_is_said_in_one_line_and_recorded(write_level, tmp_path: Path,
                                                                      capfd: pytest.CaptureFixture[str]) -> None:
    level = load_level(str(write_level(level_doc(traffic=[{"from": "alice", "to": "fay", "count": 5,
                                                           "every": "100ms", "text": "tick"}]))))
    steps = load_script(script(tmp_path, "- {at: 100ms, say: First}\n- {say: Never said}\n"), level)

    def broken_screen(step: Any) -> None:
        raise ValueError(f"cannot show {step.say!r}")

    round_ = Round(level, level.resources, seed=level.seed, script=steps, on_say=broken_screen)
    result = await round_.run()
    failed = [e for e in result.events if e.get("kind") == "script_failed"]
    assert len(failed) == 1 and failed[0]["line"] == 1 and "cannot show 'First'" in failed[0]["reason"]
    err = [line for line in capfd.readouterr().err.splitlines() if "lecture script" in line]
    assert len(err) == 1 and "line 1" in err[0] and "cannot show" in err[0], err
    assert build_report(level, level.seed, result.events, result.processes)["notes"]["delivered"] == 5


def test_sealing_live_under_traefik_ends_the_teacher_s_reading_and_her_forgeries_from_that_version_on(
        tmp_path: Path) -> None:
    lecture = REPO / "classroom" / "data" / "lectures" / "no-locks-at-all.yaml"
    record = tmp_path / "round.rec"
    proc = subprocess.run([sys.executable, "-m", "classroom.cli", "run", "no-locks-at-all", "--headless", "--quiet",
                           "--speed", "2", "--script", str(lecture), "--record", str(record)],
                          capture_output=True, text=True, cwd=REPO, timeout=240)
    assert proc.returncode in (0, 1), proc.stderr
    events = [e for line in record.read_text().splitlines() if line.strip()
              for e in [json.loads(line)] if isinstance(e, dict) and "kind" in e]
    acks = [e for e in events if e["kind"] == "config_acked"]
    sealed_at = max(e["t"] for e in acks if e["version"] == max(a["version"] for a in acks))
    read = [e["t"] for e in events if e["kind"] == "teacher_read"]
    believed = [e["t"] for e in events if e["kind"] == "teacher_forged_accepted"]
    assert read and believed  # before the push, Traefik Mesh's plain passes let her do both
    assert max(read) < sealed_at and max(believed) < sealed_at
    assert any(e["kind"] == "teacher_saw_sealed" and e["t"] > sealed_at for e in events)


def test_a_shipped_lecture_is_named_by_its_name_alone(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "classroom.cli", "run", "no-locks-at-all", "--headless", "--quiet",
                           "--speed", "4", "--script", "no-locks-at-all", "--report", str(tmp_path / "r.json")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=240)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["ledger_ok"] and any(o["metric"] == "teacher_read" for o in report["objectives"])


def _events_around_the_last_push(lecture: str, tmp_path: Path) -> tuple[list[dict[str, Any]], float, dict[str, float]]:
    """A shipped lecture's round, recorded: its events, when the last pushed version was acknowledged by
    every proxy, and when each note was sent."""
    record = tmp_path / "round.rec"
    proc = subprocess.run([sys.executable, "-m", "classroom.cli", "run", lecture, "--headless", "--quiet", "--speed",
                           "2", "--script", lecture, "--record", str(record)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=240)
    assert proc.returncode in (0, 1), proc.stderr
    events = [e for line in record.read_text().splitlines() if line.strip()
              for e in [json.loads(line)] if isinstance(e, dict) and "kind" in e]
    acks = [e for e in events if e["kind"] == "config_acked"]
    pushed = max(e["t"] for e in acks if e["version"] == max(a["version"] for a in acks))
    return events, pushed, {e["note"]: e["t"] for e in events if e["kind"] == "sent"}


def test_authorizing_classmates_live_under_linkerd_lets_every_later_note_in(tmp_path: Path) -> None:
    events, pushed, sent = _events_around_the_last_push("who-may-knock", tmp_path)
    before = [e for e in events if e["kind"] == "result" and sent[e["note"]] < pushed]
    after = [e for e in events if e["kind"] == "result" and sent[e["note"]] > pushed]
    assert any(e.get("cause") == "denied" for e in before)  # a Server with no authorization denies
    assert after and all(e["state"] == "delivered" for e in after)


def test_strict_pushed_live_after_leaving_nginx_mesh_ends_the_believed_forgeries(tmp_path: Path) -> None:
    events, pushed, _ = _events_around_the_last_push("leaving-nginx-mesh", tmp_path)
    believed = [e["t"] for e in events if e["kind"] == "teacher_forged_accepted"]
    assert believed and max(believed) < pushed
    assert all(e["state"] == "delivered" for e in events if e["kind"] == "result")  # no classmate noticed


async def test_a_classmate_who_starts_dropping_live_loses_the_notes_she_is_handed_and_stops_again(
        write_level, tmp_path: Path) -> None:
    # One row: every note from alice to fay passes through ben, cara, dev and eli.
    doc = level_doc(traffic=[{"from": "alice", "to": "fay", "count": 30, "every": "100ms", "text": "along"}])
    text = ("- {at: 1s, do: behave, student: cara, drops: 1}\n"
            "- {at: 2s, do: behave, student: cara, drops: 0}\n")
    report, events = await play(write_level, doc, text, tmp_path)
    changed = [e for e in events if e.get("kind") == "behaviour_changed" and e.get("hand") == "cara"]
    assert [e["drops"] for e in changed] == [1.0, 0.0]
    start, end = changed[0]["t"], changed[1]["t"]
    dropped = [e["t"] for e in events if e.get("kind") == "dropped" and e.get("hand") == "cara"]
    assert dropped and all(start <= t <= end for t in dropped)  # only while she was told to
    assert report["ledger_ok"] and report["notes"]["failed"] > 0 and report["notes"]["delivered"] > 0


async def test_the_teacher_told_live_to_stop_reading_and_forging_does_neither_afterwards(
        write_level, tmp_path: Path) -> None:
    level = load_level(str(REPO / "classroom" / "data" / "levels" / "21-no-locks-at-all.yaml"))
    path = script(tmp_path, "- {at: 1500ms, do: teacher, eavesdrops: false, forges: false}\n")
    steps = load_script(path, level)
    round_ = Round(level, level.resources, seed=level.seed, script=steps)
    result = await round_.run()
    assert wait_gone(round_.pids()) == []
    told = next(e["t"] for e in result.events if e.get("kind") == "teacher_changed")
    read = [e["t"] for e in result.events if e.get("kind") == "teacher_read"]
    forged = [e["t"] for e in result.events if e.get("kind") == "teacher_forged"]
    assert read and forged and max(read) < told and max(forged) < told  # Traefik's plain passes, until told


def test_a_teacher_step_needs_a_teacher_and_something_to_change(tmp_path: Path, write_level) -> None:
    level = load_level(str(write_level()))  # no teacher in this room
    with pytest.raises(LevelError, match="has no teacher in the aisle"):
        load_script(script(tmp_path, "- {do: teacher, forges: false}\n"), level)
    with pytest.raises(LevelError, match="says nothing to change"):
        load_script(script(tmp_path, "- {do: behave, student: ben}\n"), level)
    with pytest.raises(LevelError, match="drops"):
        load_script(script(tmp_path, "- {do: behave, student: ben, drops: 2}\n"), level)
