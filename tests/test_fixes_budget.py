"""Retry budgets count a retry from the moment it is decided, so a burst of failures cannot overshoot."""

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
                  "http": [{"timeout": "10s", "retries": {"attempts": 3, "retryOn": "5xx"}}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "dana"},
         "spec": {"host": "dana", "trafficPolicy": {
             "retryBudget": {"percent": {"value": 0}, "minRetryConcurrency": LIMIT}}}},
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
