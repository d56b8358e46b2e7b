"""JUnit XML for CI: a round's (``run --junit``) and a grading run's (``grade --junit``).

Theory of operation
-------------------
Written with the standard library's :mod:`xml.etree.ElementTree`, in the
shape every JUnit reader takes (Jenkins' schema, as pytest writes it): a
``<testsuites>`` root, ``<testsuite>`` elements with ``tests``, ``failures``,
``errors``, ``skipped`` and ``time``, ``<properties>``, and ``<testcase
name classname>`` holding a ``<failure message type>`` (a check that was
missed) or an ``<error message type>`` (one that could not be judged).

* A round (:func:`round_suites`): one testsuite named after the level, one
  testcase per objective (its name is the objective in words, its classname
  the level), then ``ledger`` (every note ended in exactly one outcome) and
  ``configuration loads``.  A configuration that does not load still gets
  its file: ``configuration loads`` fails with the ``FILE:LINE`` line and
  the objectives are errors.
* A grading run (:func:`grade_suites`): one testsuite per submission ×
  level (``alice/lost-notes``) whose properties carry its points, one
  testcase per objective × seed, and ``configuration loads``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from classroom.grade.result import Check, Grade, rounded, verdict
from classroom.mesh.outcomes import explain
from classroom.objectives import goal_words

CONFIGURATION = "configuration loads"
LEDGER = "ledger"


def _points(value: float) -> str:
    return f"{rounded(value):g}"


def _properties(parent: ET.Element, values: Iterable[tuple[str, object]]) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in values:
        ET.SubElement(props, "property", name=name, value=str(value))


def _case(suite: ET.Element, name: str, classname: str, *, failure: str | None = None, error: str | None = None,
          detail: str = "", time: float | None = None, kind: str = "objective-missed") -> ET.Element:
    case = ET.SubElement(suite, "testcase", name=name, classname=classname)
    if time is not None:
        case.set("time", f"{time:.3f}")
    if failure is not None:
        ET.SubElement(case, "failure", message=failure, type=kind).text = detail or failure
    elif error is not None:
        ET.SubElement(case, "error", message=error, type="not-judged").text = detail or error
    return case


def _count(suite: ET.Element, time: float) -> None:
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    suite.set("skipped", "0")
    suite.set("time", f"{time:.3f}")


def _document(suites: Sequence[ET.Element], name: str) -> ET.ElementTree:
    root = ET.Element("testsuites", name=name)
    for key in ("tests", "failures", "errors"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
    root.set("time", f"{sum(float(s.get('time', '0')) for s in suites):.3f}")
    root.extend(suites)
    ET.indent(root)
    return ET.ElementTree(root)


def write(tree: ET.ElementTree, path: str | Path) -> None:
    tree.write(path, encoding="utf-8", xml_declaration=True)


# --- one round -------------------------------------------------------------------------------------


def round_suites(level: Any, report: dict[str, Any] | None, seed: int, *, config_problem: str | None = None,
                 round_problem: str | None = None, seconds: float = 0.0,
                 properties: Iterable[tuple[str, object]] = ()) -> ET.ElementTree:
    """``run --junit``: the round's testsuite.  Without a report, the objectives and the ledger are
    errors, with ``config_problem`` (the configuration's ``FILE:LINE`` line) or ``round_problem``."""
    name = level.name
    suite = ET.Element("testsuite", name=name)
    _properties(suite, [("level", name), ("seed", seed),
                        ("profile", level.profile), *properties])
    if report is None:
        why = ("not judged: the configuration does not load (see 'configuration loads')" if config_problem
               else f"not judged: {round_problem or 'the round could not run'}")
        for o in level.objectives:
            _case(suite, goal_words(o.metric, o.op, o.value), name, error=why)
        _case(suite, LEDGER, name, error=why)
    else:
        reasons = explain(report.get("failed_at", {}))
        for o in report["objectives"]:
            words = goal_words(o["metric"], o["op"], o["target"])
            text = verdict(o, reasons)
            _case(suite, words, name, failure=None if o["passed"] else text,
                  detail="\n".join([verdict(o, []), *reasons]))
        notes = report["notes"]
        _case(suite, LEDGER, name, kind="ledger", failure=None if report["ledger_ok"] else (
            f"not every note ended in exactly one outcome: {notes['sent']} sent, {notes['delivered']} delivered, "
            f"{notes['failed']} failed, {notes['in_flight']} still in flight"))
    _case(suite, CONFIGURATION, name, failure=config_problem, kind="configuration")
    _count(suite, seconds)
    return _document([suite], f"classroom run {name}")


# --- a grading run ---------------------------------------------------------------------------------


def _check_case(suite: ET.Element, check: Check, classname: str, speed: float) -> None:
    if check.passed:
        case = _case(suite, check.name, classname)
    elif check.judged:
        case = _case(suite, check.name, classname, failure=check.said(speed))
    else:
        case = _case(suite, check.name, classname, error=check.message)
    _properties(case, [("points", _points(check.score)), ("max_points", _points(check.points))])


def grade_suites(grade: Grade) -> ET.ElementTree:
    """``grade --junit``: a testsuite per submission × level, a testcase per objective × seed."""
    infos = {info.name: info for info in grade.levels}
    suites = []
    for submission in grade.submissions:
        for lg in submission.levels:
            info = infos[lg.level]
            suite = ET.Element("testsuite", name=f"{submission.name}/{lg.level}")
            _properties(suite, [
                ("submission", submission.name), ("level", lg.level),
                ("points", _points(lg.score)), ("max_points", _points(lg.max_points)),
                ("seeds", ",".join(str(s) for s in info.seeds)),
                ("hidden_seeds", ",".join(str(s) for s in grade.hidden_seeds)),
                ("speed", f"{grade.speed:g}"), ("classroom_version", grade.version),
                ("level_sha256", info.sha256), ("config", lg.config or ""),
                ("config_sha256", lg.config_sha256 or ""),
            ])
            classname = f"{submission.name}.{lg.level}"
            if lg.problem is None:
                _case(suite, CONFIGURATION, classname)
            else:
                _case(suite, CONFIGURATION, classname, failure=lg.problem, kind="configuration")
            for check in lg.checks:
                _check_case(suite, check, classname, grade.speed)
            if lg.deductions:
                lost = sum(d.points for d in lg.deductions)
                _case(suite, "classroom analyze", classname, kind="analyze",
                      failure=f"{_points(lost)} points off for {len(lg.deductions)} analyze messages",
                      detail="\n".join(f"-{_points(d.points)}: {d.message}" for d in lg.deductions))
            _count(suite, lg.seconds)
            suites.append(suite)
    return _document(suites, "classroom grade")
