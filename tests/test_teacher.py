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


def allow_only(host: str, *senders: str) -> dict[str, Any]:
    """An AuthorizationPolicy at ``host`` that takes notes only from hands showing these students' cards."""
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": {"name": f"{host}-peers"},
            "spec": {"selector": {"matchLabels": {"app": host}}, "action": "ALLOW",
                     "rules": [{"from": [{"source": {"principals": [
                         f"classroom.local/ns/test-row/sa/{s}" for s in senders]}}]}]}}


def envelope_policy(seal: bool) -> dict[str, Any]:
    return {"apiVersion": "classroom.mesh/v1", "kind": "EnvelopePolicy", "metadata": {"name": "default"},
            "spec": {"seal": seal}}


@pytest.mark.parametrize(("mode", "extra", "believed"), [
    ("PERMISSIVE", [], True),  # plaintext is welcome, and the note shows no card to doubt
    ("STRICT", [], False),  # plaintext is refused at the door
    ("PERMISSIVE", ["authz"], False),  # the door is open, but the policy asks for a card she has not shown
    ("PERMISSIVE", ["seal"], False),  # the note is not sealed, and the EnvelopePolicy says every note is
], ids=["permissive", "strict", "permissive+authz", "permissive+seal"])
async def test_a_forged_note_is_believed_only_where_plaintext_is_taken_on_trust(
    write_level, mode: str, extra: list[str], believed: bool
) -> None:
    doc = classroom_with_teacher(mode, forges=True)
    if "authz" in extra:
        # Every hand on the row takes notes only from its neighbours' cards.
        row = ["alice", "ben", "cara", "dev", "eli", "fay"]
        for i, name in enumerate(row):
            doc["mesh"]["resources"].append(allow_only(name, *row[max(0, i - 1):i], *row[i + 1:i + 2]))
    if "seal" in extra:
        doc["mesh"]["resources"].append(envelope_policy(True))
    report, events = await play(write_level, doc)
    teacher = report["teacher"]
    assert teacher["forged"] >= 1
    assert (teacher["forged_accepted"] >= 1) is believed
    if not believed:
        assert teacher["forged_accepted"] == 0
    assert report["notes"]["delivered"] == 30 and report["ledger_ok"]  # her notes are not the class's


async def test_sealed_notes_keep_their_words_from_her_even_in_plaintext(write_level) -> None:
    doc = classroom_with_teacher("DISABLE", eavesdrops=True)
    doc["mesh"]["resources"].append(envelope_policy(True))
    report, events = await play(write_level, doc)
    assert report["teacher"]["read"] == 0
    heard = [e for e in events if e.get("kind") == "teacher_eavesdropped"]
    assert heard and not any(e["tls"] for e in heard)  # she heard the frames in the clear...
    assert any(e.get("kind") == "teacher_saw_sealed" for e in events)  # ...and the envelopes shut
    assert report["notes"]["delivered"] == 30
