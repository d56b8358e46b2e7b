"""A grade written for Gradescope (results.json), for a spreadsheet (CSV) and for the terminal (rich).

Theory of operation
-------------------
Every writer reads the one :class:`~.result.Grade`:

* :func:`gradescope` is Gradescope's autograder ``results.json``: ``score``,
  ``output`` (how the grade was made and how to make it again), ``tests[]``
  with ``name``, ``score``, ``max_score``, ``status``, ``output`` and
  ``visibility`` (``after_due_date`` for the hidden seeds' tests, so
  students see them after the deadline), and ``extra_data`` (the version,
  the speed, the levels' hashes and seeds).  With one submission the file is
  exactly that object; with several it is ``{"submissions": {"<folder
  name>": <that object>}}``;
* :func:`csv_rows`: a header (``submission``, a column per level,
  ``total``), then a row per submission;
* :func:`summary`: the same table, in colour (a row per level when there are few
  submissions), with the seeds under it.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.table import Table
from rich.text import Text

from classroom.grade.result import Grade, SubmissionGrade, rounded


def _number(value: float) -> float | int:
    value = rounded(value)
    return int(value) if value == int(value) else value


def _about(grade: Grade) -> str:
    hidden = ", ".join(str(s) for s in grade.hidden_seeds) or "none"
    return (f"Graded by classroom {grade.version} at speed {grade.speed:g}; hidden seeds: {hidden}. "
            f"To grade again exactly: classroom grade SUBMISSION {grade.reproduce()}")


def gradescope_result(grade: Grade, submission: SubmissionGrade) -> dict[str, Any]:
    """One submission's results.json, as Gradescope's autograder reads it."""
    tests: list[dict[str, Any]] = []
    for lg in submission.levels:
        if lg.problem is not None:
            tests.append({"name": f"{lg.level}: configuration", "score": 0, "max_score": 0, "status": "failed",
                          "output": lg.problem, "visibility": "visible"})
        for check in lg.checks:
            tests.append({
                "name": f"{lg.level}: {check.name}",
                "score": _number(check.score),
                "max_score": _number(check.points),
                "status": "passed" if check.passed else "failed",
                "output": check.said(grade.speed),
                "visibility": "after_due_date" if check.hidden else "visible",
            })
        if lg.deductions:
            lost = sum(d.points for d in lg.deductions)
            tests.append({"name": f"{lg.level}: classroom analyze", "score": -_number(lost), "max_score": 0,
                          "status": "failed", "output": "\n".join(d.message for d in lg.deductions),
                          "visibility": "visible"})
    output = "\n".join([_about(grade), *submission.notes])
    return {
        "score": _number(submission.score),
        "output": output,
        "tests": tests,
        "extra_data": {
            "classroom_version": grade.version,
            "speed": grade.speed,
            "hidden_seeds": list(grade.hidden_seeds),
            "max_score": _number(submission.max_score),
            "levels": {info.name: {"sha256": info.sha256, "seeds": list(info.seeds)} for info in grade.levels},
        },
    }


def gradescope(grade: Grade) -> dict[str, Any]:
    if len(grade.submissions) == 1:
        return gradescope_result(grade, grade.submissions[0])
    return {"submissions": {s.name: gradescope_result(grade, s) for s in grade.submissions}}


def csv_text(grade: Grade) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["submission", *(info.name for info in grade.levels), "total"])
    for s in grade.submissions:
        writer.writerow([s.name, *(f"{_number(lg.score)}" for lg in s.levels), f"{_number(s.score)}"])
    return out.getvalue()


def _cell(score: float, most: float, complete: bool, bold: bool = False) -> Text:
    style = "green" if complete else ("yellow" if score > 0 else "red")
    return Text(f"{_number(score)}/{_number(most)}", style=f"bold {style}" if bold else style)


def summary(grade: Grade) -> Table:
    """Each level's points per submission (green when full, yellow when some, red when none): a row
    per level and a column per submission for a few submissions, the other way round for a class."""
    table = Table(title=f"classroom grade (speed {grade.speed:g})", title_justify="left")
    subs = grade.submissions
    if len(subs) <= 6:
        table.add_column("level", no_wrap=True)
        for s in subs:
            table.add_column(s.name, justify="right", no_wrap=True)
        for i, info in enumerate(grade.levels):
            table.add_row(info.name, *(_cell(s.levels[i].score, s.levels[i].max_points, s.levels[i].complete)
                                       for s in subs))
        table.add_section()
        table.add_row(Text("total", style="bold"), *(_cell(s.score, s.max_score, s.score == s.max_score, True)
                                                     for s in subs))
        return table
    table.add_column("submission", no_wrap=True)
    for info in grade.levels:
        table.add_column(info.name, justify="right", overflow="fold")
    table.add_column("total", justify="right", no_wrap=True)
    for s in subs:
        table.add_row(s.name, *(_cell(lg.score, lg.max_points, lg.complete) for lg in s.levels),
                      _cell(s.score, s.max_score, s.score == s.max_score, True))
    return table


def seeds_lines(grade: Grade) -> list[str]:
    """What the summary says under the table: the seeds, and how to grade again exactly."""
    visible = "; ".join(f"{info.name} {','.join(str(s) for s in info.seeds)}" for info in grade.levels)
    hidden = ", ".join(str(s) for s in grade.hidden_seeds) or "none"
    return [f"seeds: {visible}", f"hidden seeds: {hidden}",
            f"grade again exactly: classroom grade SUBMISSION... {grade.reproduce()}"]
