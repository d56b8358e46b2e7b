"""Grading is fast and faithful: every level's starting configuration and solution, over several seeds,
get the same verdict from `classroom grade` as from speed 1.

A grade's verdict on a round is its verdict at the grading speed when it met everything there, and
its verdict at speed 1 when it missed something: the grader runs such a round again at speed 1
(`run_confirmed`, tested in test_grade.py), so that verdict is speed 1's by construction. What must be
proved is the other half: a round that meets everything at the grading speed meets everything at
speed 1 too (objective by objective, ledger included). So every level's start and solution run at the
grading speed, one round per core as `classroom grade` runs them here, and each round that met
everything runs again at speed 1 (six at a time: they mostly wait). The cheap levels get a third
seed. A speed-1 round that disagrees runs once more before it counts (a loaded machine can push
even speed 1 past a tight level's margin). Every round is real. How long each side takes, and how
often the grading speed alone agrees with speed 1 on the misses too, is measured in bench/grade.py,
never asserted here.
"""

from __future__ import annotations

import os

import pytest

from classroom.grade.runner import SOLUTION, START, RoundJob, RoundOutcome, expected_length, run_jobs
from classroom.grade.speed import GRADING_SPEED
from classroom.level import list_levels

CHEAP = 6.0  # room seconds of traffic: a level this short gets a third seed
BASELINE_WORKERS = 6

Verdict = tuple[bool, tuple[tuple[str, str, float, bool], ...]]


def _jobs(speed: float) -> list[RoundJob]:
    jobs = []
    for level in list_levels():
        seeds = 3 if expected_length(level) <= CHEAP else 2
        for config in (START, SOLUTION):
            for seed in range(level.seed, level.seed + seeds):
                jobs.append(RoundJob((level.name, config, seed), level.path, config, seed, speed,
                                     expected_length(level) / speed))
    return jobs


def _verdict(outcome: RoundOutcome) -> Verdict:
    """The round's ledger and each objective's verdict."""
    assert outcome.report is not None, f"{outcome.key}: {outcome.error}"
    report = outcome.report
    return report["ledger_ok"], tuple((o["metric"], o["op"], o["target"], o["passed"]) for o in report["objectives"])


@pytest.mark.timeout(1200)
def test_what_meets_everything_at_the_grading_speed_meets_everything_at_speed_1() -> None:
    assert GRADING_SPEED > 1
    fast = {o.key: o for o in run_jobs(_jobs(GRADING_SPEED), os.cpu_count() or 1)}
    met = [job for job in _jobs(1.0) if not fast[job.key].missed]
    slow = {o.key: _verdict(o) for o in run_jobs(met, BASELINE_WORKERS)}
    # A shared machine can delay even a speed-1 round past a level's margin (lost-notes' retries have
    # 450 ms of room time to spare): a speed-1 round that disagrees runs once more before it counts.
    again = [job for job in met if slow[job.key] != _verdict(fast[job.key])]
    slow.update({o.key: _verdict(o) for o in run_jobs(again, BASELINE_WORKERS)})
    differ = [f"{' '.join(map(str, key))}: at speed {GRADING_SPEED:g} {_verdict(fast[key])}, at speed 1 {verdict}"
              for key, verdict in slow.items() if verdict != _verdict(fast[key])]
    assert not differ, "verdicts a grade would get wrong:\n" + "\n".join(differ)
    # The starts miss (first-note's is its solution) and so need no speed-1 round here. A solution that
    # missed at the grading speed is graded at speed 1 (run_confirmed): there it must meet everything,
    # or the grade would be wrong. (How often the grading speed alone misses a solution, a loaded
    # machine's delays counting four times in room time, bench/grade.py measures.)
    missed = {key for key in fast if key[1] == SOLUTION and key not in slow}
    confirmed = run_jobs([job for job in _jobs(1.0) if job.key in missed], BASELINE_WORKERS)
    twice = {o.key for o in confirmed if o.missed}  # once more, as a disagreeing speed-1 round above
    confirmed = run_jobs([job for job in _jobs(1.0) if job.key in twice], BASELINE_WORKERS)
    assert not [o.key for o in confirmed if o.missed], "solutions that miss at speed 1 too"
    assert all(fast[key].missed for key in fast if key[1] == START and key[0] != "first-note")
