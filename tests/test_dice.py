"""The round's dice: the same seed tells the same story, whatever the interleaving of notes."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from conftest import level_doc

from classroom.level import load_level
from classroom.mesh.runtime.round import Round, wait_gone
from classroom.report import build_report

pytestmark = pytest.mark.timeout(180)
LOSSY = [{"from": "alice", "to": "dev", "count": 20, "every": "5ms", "text": "pass it on"}]


async def drops_at_ben(write_level, traffic: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """Play the row with lossy ben; how often he dropped each of alice's notes to dev, and what."""
    doc = level_doc(traffic=traffic, behaviours={"ben": {"drops": 0.4}})
    doc["mesh"]["resources"].append({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "dev"},
        "spec": {"hosts": ["dev"], "http": [{"timeout": "60s", "retries": {
            "attempts": 30, "perTryTimeout": "1s", "retryOn": "5xx,reset,connect-failure"},
            "route": [{"destination": {"host": "dev"}}]}]}})
    level = load_level(str(write_level(doc)))
    round_ = Round(level, level.resources, seed=level.seed)
    result = await round_.run()
    assert wait_gone(round_.pids()) == []
    report = build_report(level, level.seed, result.events, result.processes)
    assert report["ledger_ok"] and report["notes"]["failed"] == 0
    return Counter((e["note"], e["what"]) for e in result.events
                   if e.get("kind") == "dropped" and e.get("hand") == "ben" and "dev" in e["note"])


async def test_other_notes_interleaving_do_not_change_who_drops_what(write_level) -> None:
    alone = await drops_at_ben(write_level, LOSSY)
    # alice also writes to ben himself: her proxy's tries interleave differently, the story must not.
    crowded = await drops_at_ben(write_level, [
        *LOSSY, {"from": "alice", "to": "ben", "count": 20, "every": "3ms", "text": "and you?"}])
    assert sum(alone.values()) > 5  # ben really did drop notes and replies
    assert crowded == alone


def test_each_retry_of_a_note_draws_its_own_share_of_the_backoff() -> None:
    from classroom.mesh.data.resilience import BACKOFF_BASE, backoff
    from classroom.mesh.runtime.dice import Dice

    shares = [backoff(r, Dice(7), "alice>fay#1", "ben") / min((2**r - 1) * BACKOFF_BASE, 0.25) for r in (1, 2, 3)]
    assert len({round(s, 9) for s in shares}) == 3  # fully jittered per retry, not one fraction for all
    assert backoff(2, Dice(7), "alice>fay#1", "ben") == backoff(2, Dice(7), "alice>fay#1", "ben")  # and per seed
