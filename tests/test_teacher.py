"""The teacher on the wire: eavesdropping, confiscating and posing as a student, in real rounds."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import level_doc
from test_failures import play, results, virtual_service

pytestmark = pytest.mark.timeout(180)


def classroom_with_teacher(mode: str, **teacher: Any) -> dict[str, Any]:
    doc = level_doc(mode=mode, traffic=[
        {"from": "alice", "to": "fay", "count": 30, "every": "40ms", "text": "Lunch at the fountain?"}])
    doc["room"]["passing_time"] = "20ms"
    doc["teacher"] = {"patrol": [[0, 2], [0, 3]], "speed": 0.5, **teacher}
    doc["mesh"]["resources"].append(virtual_service(
        "fay", timeout="8s", retries={"attempts": 6, "perTryTimeout": "400ms",
                                      "retryOn": "5xx,reset,connect-failure"}))
    return doc


async def test_under_strict_she_reads_nothing_and_fools_nobody(write_level) -> None:
    doc = classroom_with_teacher("STRICT", eavesdrops=True, impersonates=True, catches=0.05)
    report, events = await play(write_level, doc)
    teacher = report["teacher"]
    assert teacher["read"] == 0 and teacher["impersonations_accepted"] == 0
    assert teacher["impersonations"] >= 2
    assert report["notes"]["delivered"] == 30 and report["ledger_ok"]
    # She did listen: only TLS records reached her.
    heard = [e for e in events if e.get("kind") == "teacher_eavesdropped"]
    assert heard and all(e["tls"] for e in heard)
    # Every impostor was refused by the proxy that dialed her, with both identities and why.
    refusals = [e for e in events if e.get("kind") == "tls_rejected" and e["direction"] == "outbound"]
    reasons = " ".join(e["reason"] for e in refusals)
    assert "sa/teacher" in reasons and "trusted class CA" in reasons


async def test_without_mtls_she_reads_the_notes_and_impostors_get_in(write_level) -> None:
    doc = classroom_with_teacher("DISABLE", eavesdrops=True, impersonates=True)
    report, events = await play(write_level, doc)
    assert report["teacher"]["read"] >= 10
    assert report["teacher"]["impersonations_accepted"] >= 1
    read = [e for e in events if e.get("kind") == "teacher_read"]
    assert {e["text"] for e in read} == {"Lunch at the fountain?"}


async def test_a_confiscated_note_is_retried_another_way(write_level) -> None:
    doc = classroom_with_teacher("STRICT", catches=0.1)
    doc["teacher"]["patrol"] = [[0, 5]]  # by fay's desk: she watches the last two passes
    report, events = await play(write_level, doc)
    assert report["teacher"]["caught"] >= 3
    assert report["notes"]["delivered"] == 30 and report["ledger_ok"]
    assert report["retries"] >= report["teacher"]["caught"] // 2
    assert not any(r["state"] == "failed" for r in results(events))


@pytest.mark.parametrize("seed", [3, 7, 11])
async def test_a_refused_impostor_under_strict_costs_no_note_when_the_route_retries_resets(
        write_level, seed: int) -> None:
    # Her cut-in resets what is on the cut link (UC), as a real MITM's reset would: Istio's default
    # retries leave resets out; with reset added, the redial she catches costs a retry, never a note.
    doc = level_doc(mode="STRICT", traffic=[
        {"from": "alice", "to": "fay", "count": 20, "every": "60ms", "text": "Lunch at the fountain?"}])
    doc["room"]["passing_time"] = "20ms"
    doc["seed"] = seed
    doc["teacher"] = {"patrol": [[0, 1], [0, 4]], "speed": 2.0, "impersonates": True}
    doc["mesh"]["resources"].append(virtual_service(
        "fay", retries={"attempts": 2, "retryOn": "connect-failure,refused-stream,unavailable,cancelled,reset"}))
    report, events = await play(write_level, doc)
    assert report["teacher"]["impersonations"] >= 2 and report["teacher"]["impersonations_accepted"] == 0
    assert report["notes"]["delivered"] == 20 and report["ledger_ok"], report["flags"]
