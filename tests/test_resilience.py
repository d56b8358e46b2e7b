"""Retry budgets, backoff and outlier detection: the pure rules, and a burst of failures in a real round.

A retry is counted from the moment it is decided, so a burst of failures cannot overshoot the budget."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import level_doc

from classroom.level import load_level
from classroom.mesh.data.resilience import RetryBudget
from classroom.mesh.runtime.round import Round, wait_gone
from classroom.report import build_report

LIMIT = 2  # minRetryConcurrency, with percent 0: at most two retries at once


def test_a_retry_is_counted_when_decided_and_released_once() -> None:
    budget = RetryBudget(percent=0.0, min_retry_concurrency=LIMIT)
    assert budget.reserve() and budget.reserve()  # two decided, neither launched yet
    assert not budget.reserve()  # a third decision in the same backoff finds no room
    budget.release()
    assert budget.reserve()


def most_retries_at_once(events: list[dict[str, Any]], hand: str) -> int:
    """From the recording: retries decided at ``hand`` whose outcome was not known yet, at the most.

    A retry opens at its ``retried`` event and closes at the note's next decision at that hand
    (another ``retried``, ``retry_budget_exhausted``) or its ``result``.
    """
    open_retries: set[str] = set()
    most = 0
    for event in events:
        kind, note = event.get("kind"), event.get("note")
        if kind in ("retried", "retry_budget_exhausted") and event.get("hand") == hand or (
                kind == "result" and event.get("from") == hand):
            open_retries.discard(note)
            if kind == "retried":
                open_retries.add(note)
                most = max(most, len(open_retries))
    return most


@pytest.mark.timeout(180)
async def test_a_burst_of_failures_stays_within_the_budget(write_level) -> None:
    # dana cannot take any note: every try fails at once, and alice decides retries in a burst.
    doc = level_doc(traffic=[{"from": "alice", "to": "dana", "count": 30, "every": "2ms", "text": "now?"}])
    doc["room"] = {"rows": 1, "cols": 2, "passing_time": "0ms", "links": "neighbours"}
    doc["students"] = [{"name": "alice", "seat": [0, 0]},
                       {"name": "dana", "seat": [0, 1], "behaviour": {"fails": 1.0}}]
    doc["mesh"]["resources"] += [
        {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "dana"},
         "spec": {"hosts": ["dana"],
                  "http": [{"timeout": "10s", "retries": {"attempts": 3, "retryOn": "5xx"},
                            "route": [{"destination": {"host": "dana"}}]}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "dana"},
         "spec": {"host": "dana", "trafficPolicy": {
             "retryBudget": {"percent": 0, "minRetryConcurrency": LIMIT}}}},
    ]
    level = load_level(str(write_level(doc)))
    round_ = Round(level, level.resources, seed=level.seed)
    result = await round_.run()
    assert wait_gone(round_.pids()) == []
    report = build_report(level, level.seed, result.events, result.processes)
    assert report["ledger_ok"] and report["notes"]["failed"] == 30
    assert any(e.get("kind") == "retry_budget_exhausted" for e in result.events)
    assert report["retries"] > LIMIT  # the budget is given back: retries go on after the first ones
    assert most_retries_at_once(result.events, "alice") <= LIMIT


def test_an_ejection_ends_after_its_time_and_grows_with_each_one() -> None:
    from classroom.mesh.data.resilience import OutlierDetector

    now = [0.0]
    detector = OutlierDetector(lambda: now[0], consecutive_errors=2, base_ejection_time=10.0,
                               max_ejection_percent=100, interval=0.5)
    assert detector.failure("ben", 2) is None
    assert detector.failure("ben", 2) == 10.0 and detector.ejected("ben")
    now[0] = 10.5
    assert not detector.ejected("ben")  # back after baseEjectionTime
    detector.success("ben")
    detector.failure("ben", 2)
    assert detector.failure("ben", 2) == 20.0  # the second ejection lasts twice as long
    assert detector.failure("gus", 2) is None and detector.failure("gus", 2) == 10.0  # 100%: both may go


def test_at_most_max_ejection_percent_of_the_pool_is_ejected_but_always_one() -> None:
    from classroom.mesh.data.resilience import OutlierDetector

    detector = OutlierDetector(lambda: 0.0, consecutive_errors=1, max_ejection_percent=10)
    assert detector.failure("ben", 3) is not None  # 10% of 3 is 0: one may go all the same
    assert detector.failure("gus", 3) is None and not detector.ejected("gus")


def test_an_ejected_host_comes_back_at_the_detector_s_first_sweep_after_its_time() -> None:
    from classroom.mesh.data.resilience import OutlierDetector

    now = [3.0]
    detector = OutlierDetector(lambda: now[0], consecutive_errors=1, base_ejection_time=30.0,
                               max_ejection_percent=100, interval=10.0, started=0.0)
    assert detector.failure("ben", 2) == 37.0  # out at 3 s for 30 s: back at the sweep at 40 s
    now[0] = 39.9
    assert detector.ejected("ben")
    now[0] = 40.0
    assert not detector.ejected("ben")


def test_gateway_errors_count_only_502_503_504_and_a_panic_ignores_ejections() -> None:
    from classroom.mesh.data.resilience import OutlierDetector

    detector = OutlierDetector(lambda: 0.0, consecutive_errors=0, gateway_errors=2, max_ejection_percent=100,
                               min_health_percent=60, started=0.0)
    assert detector.failure("ben", 2, 500) is None and detector.failure("ben", 2, 500) is None
    assert detector.failure("ben", 2, 504) is None and detector.failure("ben", 2, 503) is not None
    assert detector.ejected("ben")
    assert detector.panic(["ben", "gus"])  # one of two healthy: 50% < 60%, so ejections are ignored
    assert not detector.panic(["ben", "gus", "cara"])


def test_a_budget_interval_counts_the_requests_started_within_it() -> None:
    from classroom.mesh.data.resilience import RetryBudget

    now = [0.0]
    budget = RetryBudget(percent=50.0, min_retry_concurrency=0, interval=1.0, clock=lambda: now[0])
    for _ in range(4):
        budget.started()
        budget.ended()
    assert budget.requests() == 4 and budget.reserve() and budget.reserve() and not budget.reserve()
    now[0] = 1.5  # those four are older than the interval now
    assert budget.requests() == 0
