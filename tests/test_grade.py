"""`classroom grade` as a course uses it: real rounds for a folder of submissions, read back the way
CI (a JUnit reader), Gradescope (results.json) and a spreadsheet (CSV) read them; points files;
bad input as one line; rounds forked from one launcher leave nothing behind."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, descendants, level_doc
from junitparser import Error, Failure, JUnitXml

from classroom.grade.course import Course, Plan, Submission, grade
from classroom.grade.junit import grade_suites, write
from classroom.grade.outputs import csv_text, gradescope
from classroom.grade.points import Points, load_points
from classroom.grade.runner import RoundOutcome
from classroom.level import LevelError, list_levels, load_level
from classroom.mesh.runtime import net
from classroom.mesh.runtime.launcher import Launcher
from classroom.mesh.runtime.round import Round, wait_gone

pytestmark = pytest.mark.timeout(300)

# Two cheap levels: nosy-neighbours has a hint, class-rules' starting configuration misses two of three.
LEVELS = "nosy-neighbours,class-rules"


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    return node


def _write_config(path: Path, resources: Any) -> None:
    path.write_text(yaml.safe_dump(_plain(list(resources)), sort_keys=False))


def classroom(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "classroom.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})})


def _watched(command: list[str]) -> tuple[subprocess.CompletedProcess[str], set[int]]:
    """Run ``command``, noting every process it starts while it runs (sampled every 50 ms)."""
    import time

    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: set[int] = set()
    with proc:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            seen |= descendants(proc.pid)
            time.sleep(0.05)
        out, err = proc.communicate(timeout=max(deadline - time.monotonic(), 1))
    return subprocess.CompletedProcess(command, proc.returncode, out, err), seen


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One grading run over four submissions: right, half right, malformed and empty."""
    root = tmp_path_factory.mktemp("grade")
    nosy, rules = load_level("nosy-neighbours"), load_level("class-rules")
    for name in ("right", "half", "malformed", "empty"):
        (root / name).mkdir()
    _write_config(root / "right" / "nosy-neighbours.yaml", nosy.solution)
    _write_config(root / "right" / "class-rules.yaml", rules.solution)
    _write_config(root / "half" / "nosy-neighbours.yaml", nosy.resources)  # readable by the nosy: misses one
    _write_config(root / "half" / "class-rules.yaml", rules.solution)
    (root / "malformed" / "nosy-neighbours.yaml").write_text("- apiVersion: security.istio.io/v1\n  kind: [\n")
    (root / "malformed" / "class-rules.yaml").write_text(
        "- apiVersion: security.istio.io/v1\n  kind: AuthorizationPolicy\n  metadata: {name: x}\n"
        "  spec: {action: MAYBE}\n")
    (root / "malformed" / "lunch-menu.yaml").write_text("[]\n")
    out = root / "out"
    done, seen = _watched([sys.executable, "-m", "classroom.cli", "grade",
                           *(str(root / n) for n in ("right", "half", "malformed", "empty")),
                           "--levels", LEVELS, "--seeds", "1", "--hidden-seeds", "1", "--jobs", "2",
                           "--junit", str(out / "junit.xml"), "--gradescope", str(out / "results.json"),
                           "--csv", str(out / "grade.csv"), "--feedback", str(out / "feedback"),
                           "--report", str(out / "grade.json")])
    return {"done": done, "out": out, "root": root, "left": wait_gone(sorted(seen)), "seen": seen}


def test_every_submission_is_graded_and_nothing_is_left_running(graded: dict[str, Any]) -> None:
    done = graded["done"]
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert len(graded["seen"]) >= 15, "the grading run's processes were not seen running"
    assert graded["left"] == [], f"processes of the grading run left behind: {graded['left']}"
    assert "hidden seeds:" in done.stdout and "--hidden-seed-values" in done.stdout


def test_gradescope_scores_each_submission(graded: dict[str, Any]) -> None:
    results = json.loads((graded["out"] / "results.json").read_text())
    scores = {name: r["score"] for name, r in results["submissions"].items()}
    # Each objective is worth a point, shared by its seeds; nosy-neighbours' start misses one of three.
    assert scores == {"right": 6, "half": 5, "malformed": 0, "empty": 0}
    for result in results["submissions"].values():
        tests = result["tests"]
        assert sum(t["max_score"] for t in tests) == 6
        assert sum(t["score"] for t in tests) == result["score"]
        assert {t["status"] for t in tests} <= {"passed", "failed"}
        hidden = [t for t in tests if "hidden seed" in t["name"]]
        assert hidden and all(t["visibility"] == "after_due_date" for t in hidden)
        assert all(t["visibility"] == "visible" for t in tests if t not in hidden)
    half = results["submissions"]["half"]["tests"]
    missed = [t for t in half if t["status"] == "failed"]
    assert {t["name"].split(" (")[0] for t in missed} == {"nosy-neighbours: notes classmates read = 0"}
    assert all("wanted = 0" in t["output"] for t in missed)


def test_junit_is_read_by_a_junit_reader(graded: dict[str, Any]) -> None:
    xml = JUnitXml.fromfile(str(graded["out"] / "junit.xml"))
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == {f"{s}/{lv}" for s in ("right", "half", "malformed", "empty")
                           for lv in LEVELS.split(",")}
    for name, suite in suites.items():
        props = {p.name: p.value for p in suite.properties()}
        assert props["classroom_version"] and props["level_sha256"] and props["hidden_seeds"].isdigit()
        assert float(props["max_points"]) == 3
        cases = list(suite)
        # configuration loads, and 3 objectives × (1 visible + 1 hidden seed)
        assert len(cases) == 7, name
        assert all(case.classname == name.replace("/", ".") for case in cases)
    right = suites["right/class-rules"]
    assert all(not case.result for case in right)
    assert {p.name: p.value for p in right.properties()}["points"] == "3"
    half = [case for case in suites["half/nosy-neighbours"] if case.result]
    assert len(half) == 2 and all(isinstance(case.result[0], Failure) for case in half)
    assert all("notes classmates read" in case.result[0].message for case in half)
    broken = {case.name: case for case in suites["malformed/nosy-neighbours"]}["configuration loads"]
    assert "nosy-neighbours.yaml:3:" in broken.result[0].message
    empty = [case for case in suites["empty/class-rules"] if case.name != "configuration loads"]
    assert all(isinstance(case.result[0], Error) for case in empty)
    assert all("no configuration for class-rules" in case.result[0].message for case in empty)


def test_csv_has_a_row_per_submission_and_a_column_per_level(graded: dict[str, Any]) -> None:
    rows = list(csv.reader(io.StringIO((graded["out"] / "grade.csv").read_text())))
    assert rows[0] == ["submission", "nosy-neighbours", "class-rules", "total"]
    assert rows[1:] == [["right", "3", "3", "6"], ["half", "2", "3", "5"], ["malformed", "0", "0", "0"],
                        ["empty", "0", "0", "0"]]


def test_feedback_says_what_failed_why_and_the_first_hint(graded: dict[str, Any]) -> None:
    folder = graded["out"] / "feedback"
    half = (folder / "half.md").read_text()
    assert "**failed**: notes classmates read = 0" in half
    assert load_level("nosy-neighbours").hints[0] in half
    malformed = (folder / "malformed.md").read_text()
    assert "nosy-neighbours.yaml:3:" in malformed and "class-rules.yaml:4:" in malformed
    assert "lunch-menu.yaml: no level is named 'lunch-menu'" in malformed
    assert "no configuration for nosy-neighbours" in (folder / "empty.md").read_text()


def test_the_grade_report_names_version_level_hashes_and_seeds(graded: dict[str, Any]) -> None:
    report = json.loads((graded["out"] / "grade.json").read_text())
    from classroom import __version__

    assert report["classroom_version"] == __version__
    assert len(report["hidden_seeds"]) == 1
    for info in report["levels"]:
        level = load_level(info["name"])
        assert info["sha256"] == hashlib.sha256(Path(level.path).read_bytes()).hexdigest()
        assert info["seeds"] == [level.seed]
    assert f"--hidden-seed-values {report['hidden_seeds'][0]}" in report["reproduce"]


def test_the_same_seeds_give_the_same_grade(tmp_path: Path) -> None:
    level = load_level("first-note")
    (tmp_path / "alice").mkdir()
    _write_config(tmp_path / "alice" / "first-note.yaml", level.solution)
    reports = []
    for extra in (["--hidden-seeds", "1"], None):
        if extra is None:
            extra = ["--hidden-seed-values", ",".join(str(s) for s in reports[0]["hidden_seeds"])]
        out = tmp_path / f"grade-{len(reports)}.json"
        done = classroom("grade", str(tmp_path / "alice"), "--levels", "first-note", "--quiet", "--report",
                         str(out), *extra)
        assert done.returncode == 0, done.stderr
        reports.append(json.loads(out.read_text()))
    first, again = ({k: v for k, v in r.items() if k != "submissions"} for r in reports)
    assert first == again
    checks = [[(c["objective"], c["seed"], c["hidden"], c["passed"], c["score"])
               for c in r["submissions"][0]["levels"][0]["checks"]] for r in reports]
    assert checks[0] == checks[1] and all(check[3] for check in checks[0])


# --- bad input: one line each, never a traceback ----------------------------------------------------


def test_a_missing_folder_is_one_line_and_the_others_are_still_graded(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = classroom("grade", str(tmp_path / "nobody"), str(tmp_path / "empty"), "--levels", "first-note",
                     "--csv", str(tmp_path / "g.csv"))
    assert done.returncode == 2
    assert f"classroom: error: {tmp_path / 'nobody'}: no such submission folder" in done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "g.csv").read_text().splitlines() == ["submission,first-note,total", "empty,0,0"]


@pytest.mark.parametrize(("points", "line", "words"), [
    ("levels:\n  first-note: 2\n  lunch-break: 3\n", 3, "unknown level 'lunch-break'"),
    ("levels:\n  lost-notes:\n    objectives:\n      delivery_p50: 2\n", 4, "level lost-notes has no objective on "
                                                                           "'delivery_p50'"),
    ("levels:\n  first-note: -1\n", 2, "a number of points, 0 or more"),
    ("analyze:\n  Fatal: 1\n", 2, "unknown analyze level 'Fatal'"),
    ("level:\n  first-note: 1\n", 1, "unknown key 'level'"),
])
def test_a_points_file_is_checked_at_its_line(tmp_path: Path, points: str, line: int, words: str) -> None:
    (tmp_path / "points.yaml").write_text(points)
    (tmp_path / "alice").mkdir()
    done = classroom("grade", str(tmp_path / "alice"), "--points", str(tmp_path / "points.yaml"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"points.yaml:{line}: " in done.stderr and words in done.stderr


@pytest.mark.parametrize(("args", "words"), [
    (["--levels", "first-note,lunch-break"], "unknown level 'lunch-break'"),
    (["--seeds", "0"], "no seed to grade on"),
    (["--hidden-seed-values", "12,x"], "wants seeds separated by commas"),
    (["--jobs", "0"], "--jobs is at least 1"),
])
def test_bad_options_are_one_line(tmp_path: Path, args: list[str], words: str) -> None:
    done = classroom("grade", str(tmp_path), *args)
    assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr


# --- points and scores, from reports (pure) --------------------------------------------------------


def _report(level: Any, passed: list[bool], seed: int) -> dict[str, Any]:
    objectives = [{"metric": o.metric, "op": o.op, "target": o.value, "value": o.value if ok else 0.5,
                   "passed": ok} for o, ok in zip(level.objectives, passed, strict=True)]
    return {"seed": seed, "objectives": objectives, "passed": all(passed), "ledger_ok": True,
            "notes": {"sent": 20, "delivered": 19, "failed": 1, "duplicates": 0, "in_flight": 0},
            "failed_at": {"ben": {"UT": 1}}}


def test_points_weigh_objectives_and_levels_and_analyze_costs(tmp_path: Path) -> None:
    levels = list_levels()
    path = tmp_path / "points.yaml"
    path.write_text("levels:\n  lost-notes:\n    points: 10\n    objectives: {delivered_ratio: 3}\n"
                    "  first-note: 6\n  nosy-neighbours:\nanalyze: {warning: 0.5}\n")
    points = load_points(str(path), levels)
    assert points.levels == ("lost-notes", "first-note", "nosy-neighbours")
    lost = load_level("lost-notes")
    assert [round(p, 4) for p in points.for_level(lost).objectives] == [6.0, 2.0, 2.0]
    assert points.for_level(load_level("first-note")).objectives == (2.0, 2.0, 2.0)
    assert points.for_level(load_level("nosy-neighbours")).objectives == (1.0, 1.0, 1.0)
    assert points.cost("Warning") == 0.5 and points.cost("Error") == 0.0


def test_partial_credit_is_shared_by_seeds_and_the_outputs_agree(tmp_path: Path) -> None:
    lost = load_level("lost-notes")
    course = Course((lost,), Points(totals={"lost-notes": 10}), seeds=2, hidden_seeds=(424242,), speed=4)
    submission = Submission("alice", str(tmp_path), {"lost-notes": str(tmp_path / "lost-notes.yaml")})
    (tmp_path / "lost-notes.yaml").write_text("[]\n")
    seeds = course.seeds_of(lost)
    verdicts = {seeds[0]: [True, True, True], seeds[1]: [False, True, True], seeds[2]: [False, False, True]}
    outcomes = [RoundOutcome((0, "lost-notes", seed, hidden), _report(lost, verdicts[seed, hidden], seed), None, 1.0)
                for seed, hidden in seeds]
    result = grade(course, [submission], Plan([], {}, {}), outcomes, "9.9")
    level = result.submissions[0].levels[0]
    # Each objective is worth 10/3, a third of it per seed: 9 checks, 6 met.
    assert level.score == round(10 * 6 / 9, 4) and level.max_points == pytest.approx(10)
    missed = [c for c in level.checks if not c.passed]
    assert missed[0].message == "notes delivered: 50%, wanted ≥ 98%: 1 note at ben: no answer in time (UT)"
    results = gradescope(result)
    assert results["score"] == level.score
    assert sum(t["score"] for t in results["tests"]) == pytest.approx(level.score, abs=0.001)  # 4 decimals each
    assert [t["visibility"] for t in results["tests"]].count("after_due_date") == 3
    assert csv_text(result).splitlines()[1] == f"alice,{level.score:g},{level.score:g}"
    junit = tmp_path / "junit.xml"
    write(grade_suites(result), junit)
    suite = next(iter(JUnitXml.fromfile(str(junit))))
    assert {p.name: p.value for p in suite.properties()}["points"] == f"{level.score:g}"
    assert sum(1 for case in suite if case.result) == 3


# --- rounds forked from one launcher --------------------------------------------------------------


def test_rounds_share_a_launcher_and_each_stops_only_its_own(write_level) -> None:
    level = load_level(str(write_level()))
    launcher = Launcher()
    try:
        pids = []
        for _ in range(2):
            round_ = Round(level, level.resources, level.seed, launcher=launcher)
            result = net.run(round_.run())
            assert result.processes and len(result.events) > 0
            mine = [p["pid"] for p in result.processes if p["role"] != "launcher"]
            assert wait_gone(mine) == [], "a round left its processes to the shared launcher"
            assert launcher.proc.poll() is None, "the shared launcher stopped with a round"
            pids += mine
        assert len(set(pids)) == len(pids)
    finally:
        launcher.stop()
    assert wait_gone([launcher.pid, *pids]) == []


def test_a_points_file_naming_nothing_is_refused(tmp_path: Path) -> None:
    (tmp_path / "points.yaml").write_text("")
    with pytest.raises(LevelError, match="points.yaml:1: a points file is one YAML mapping"):
        load_points(str(tmp_path / "points.yaml"), list_levels())


def test_a_miss_at_the_grading_speed_is_judged_again_at_speed_1(write_level) -> None:
    from classroom.grade.runner import START, RoundJob, run_confirmed

    doc = level_doc(objectives=[{"metric": "delivered_ratio", "op": ">=", "value": 1.0},
                                {"metric": "retries", "op": ">=", "value": 5}])  # nobody retries: missed
    missing = write_level(doc)
    passing = write_level(level_doc(name="test-pass"), name="test-pass")
    confirming: list[int] = []
    outcomes = run_confirmed([RoundJob(("miss",), str(missing), START, 7, 4.0),
                              RoundJob(("pass",), str(passing), START, 7, 4.0)], 2, on_confirm=confirming.append)
    miss, hit = outcomes
    assert confirming == [1]
    assert miss.confirmed and miss.report is not None and miss.report["speed"] == 1.0
    assert not hit.confirmed and hit.report is not None and hit.report["speed"] == 4.0


def test_the_course_template_grades_with_its_own_points_file() -> None:
    template = REPO / "docs" / "course"
    points = load_points(str(template / "student-repo" / "points.yaml"), list_levels())
    assert points.levels and points.cost("Error") > 0
    workflow = yaml.safe_load((template / "student-repo" / ".github" / "workflows" / "grade.yml").read_text())
    steps = " ".join(str(step.get("run", "")) for step in workflow["jobs"]["grade"]["steps"])
    assert "classroom grade ." in steps and "--junit" in steps and "--gradescope" in steps
    autograder = (template / "gradescope" / "run_autograder").read_text()
    assert "classroom grade /autograder/submission" in autograder and "/autograder/results/results.json" in autograder
    assert os.access(template / "gradescope" / "run_autograder", os.X_OK)


def test_analyze_messages_cost_what_the_points_file_says(tmp_path: Path) -> None:
    from classroom.grade.course import plan
    from classroom.grade.feedback import feedback

    lost = load_level("lost-notes")
    folder = tmp_path / "alice"
    folder.mkdir()
    solution = _plain(list(lost.solution or ()))
    retries = solution[1]["spec"]["http"][0]
    retries["retries"]["perTryTimeout"] = retries["timeout"]  # no time left for a retry: CLS0005, a Warning
    _write_config(folder / "lost-notes.yaml", solution)
    course = Course((lost,), Points(analyze={"Warning": 0.5}), seeds=1)
    submission = Submission("alice", str(folder), {"lost-notes": str(folder / "lost-notes.yaml")})
    the_plan = plan(course, [submission])
    deductions = the_plan.deductions[0, "lost-notes"]
    # The solution's own CLS0001 (its retries multiply hop by hop), and the CLS0005 written here.
    assert [(d.level, d.message.split("]")[0][-7:]) for d in deductions] == [("Warning", "CLS0001"),
                                                                           ("Warning", "CLS0005")]
    assert all("lost-notes.yaml:" in d.message for d in deductions)
    outcomes = [RoundOutcome(job.key, _report(lost, [True, True, True], job.seed), None, 1.0) for job in the_plan.jobs]
    result = grade(course, [submission], the_plan, outcomes, "9.9")
    assert result.submissions[0].score == 2 and result.submissions[0].max_score == 3
    tests = gradescope(result)["tests"]
    assert tests[-1]["name"] == "lost-notes: classroom analyze" and tests[-1]["score"] == -1
    assert "CLS0005" in feedback(result, result.submissions[0])


def test_ctrl_c_stops_every_round_of_a_grading_run(tmp_path: Path) -> None:
    import signal
    import time

    level = load_level("id-card-renewal")  # the longest level: its rounds are running when Ctrl-C comes
    (tmp_path / "alice").mkdir()
    _write_config(tmp_path / "alice" / "id-card-renewal.yaml", level.solution)
    proc = subprocess.Popen([sys.executable, "-m", "classroom.cli", "grade", str(tmp_path / "alice"), "--levels",
                             "id-card-renewal", "--seeds", "2", "--speed", "1", "--jobs", "2", "--quiet"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        family: set[int] = set()
        while time.monotonic() < deadline and len(family) < 30:  # two workers, two launchers, two rooms
            family |= descendants(proc.pid)
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert len(family) >= 30
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
        assert wait_gone(sorted(family)) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
