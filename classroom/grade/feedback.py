"""Feedback for a student, in Markdown: per level what passed, what failed and why, and the first hint.

The visible seeds are told check by check; the hidden seeds only as a count
(how many of their checks were met), so that the feedback does not hand out
what the hidden seeds are there to test.  A configuration that does not load
is quoted with its ``FILE:LINE`` line.
"""

from __future__ import annotations

from classroom.grade.result import Grade, LevelGrade, SubmissionGrade, rounded


def _points(value: float) -> str:
    return f"{rounded(value):g}"


def _level(lg: LevelGrade, speed: float) -> list[str]:
    lines = [f"## {lg.title} (`{lg.level}`): {_points(lg.score)} / {_points(lg.max_points)}", ""]
    if lg.problem is not None:
        lines += ["Not graded:", "", "```", lg.problem, "```", ""]
    else:
        lines += [f"Configuration: `{lg.config}`", ""]
        for check in (c for c in lg.checks if not c.hidden):
            mark = "passed" if check.passed else "**failed**"
            lines.append(f"- {mark}: {check.objective} ({check.seed_words}): {check.said(speed)}")
        hidden = [c for c in lg.checks if c.hidden]
        if hidden:
            met = sum(1 for c in hidden if c.passed)
            lines.append(f"- hidden seeds: {met} of {len(hidden)} checks met")
        lines.append("")
    for d in lg.deductions:
        lines.append(f"- {_points(d.points)} off: `{d.message}`")
    if lg.deductions:
        lines.append("")
    if not lg.complete and lg.hint:
        lines += [f"Hint: {lg.hint}", ""]
    return lines


def feedback(grade: Grade, submission: SubmissionGrade) -> str:
    hidden = len(grade.hidden_seeds)
    lines = [
        f"# {submission.name}: {_points(submission.score)} / {_points(submission.max_score)} points",
        "",
        f"Graded by classroom {grade.version} at speed {grade.speed:g}, on each level's own seeds"
        + (f" and {hidden} hidden seed{'s' if hidden != 1 else ''}" if hidden else "") + ". "
        "Run a level yourself with `classroom run LEVEL --config FILE --seed N`.",
        "",
    ]
    if submission.notes:
        lines += [f"- {note}" for note in submission.notes] + [""]
    for lg in submission.levels:
        lines += _level(lg, grade.speed)
    return "\n".join(lines).rstrip() + "\n"
