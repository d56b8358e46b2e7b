"""The run report: percentiles, and the report of a hand-made history (objectives: test_objectives.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classroom.level import Behaviour, Level, Objective, Room, Student
from classroom.report import FAILURE_CAUSES, build_report, percentile, report_metrics

# --- percentile ---------------------------------------------------------------------------


def test_percentile_of_nothing_is_zero() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([], 99) == 0.0


def test_percentile_of_one_value_is_that_value() -> None:
    for q in (0, 50, 99, 100):
        assert percentile([7.5], q) == 7.5


def test_percentile_interpolates_linearly() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(values, 25) == pytest.approx(1.75)
    assert percentile(list(range(101)), 99) == pytest.approx(99.0)
    assert percentile([0.0, 10.0], 99) == pytest.approx(9.9)
    assert values == [4.0, 1.0, 3.0, 2.0]  # the caller's list is left alone


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30),
    q1=st.floats(0, 100),
    q2=st.floats(0, 100),
)
def test_percentile_is_bounded_and_monotonic(values: list[float], q1: float, q2: float) -> None:
    lo, hi = sorted((q1, q2))
    p_lo, p_hi = percentile(values, lo), percentile(values, hi)
    assert min(values) - 1e-6 <= p_lo <= p_hi + 1e-6
    assert p_hi <= max(values) + 1e-6


# --- build_report -------------------------------------------------------------------------

STUDENTS = ["ada", "bob", "cy", "dee"]


def make_level(objectives: list[Objective]) -> Level:
    return Level(
        path="levels/test.yaml",
        name="test-level",
        title="A test level",
        concepts=("mtls",),
        lesson="",
        seed=1,
        room=Room(
            rows=2,
            cols=2,
            passing_time=0.05,
            links=(("ada", "bob"), ("bob", "cy"), ("cy", "dee"), ("ada", "dee")),
        ),
        students=tuple(Student(name, (i // 2, i % 2), Behaviour()) for i, name in enumerate(STUDENTS)),
        teacher=None,
        traffic=(),
        profile="istio",
        resources=(),
        editable=(),
        objectives=tuple(objectives),
        solution=None,
    )


def sent(note: str, frm: str = "ada", to: str = "cy") -> dict[str, Any]:
    return {"kind": "sent", "note": note, "from": frm, "to": to, "t": 0.0, "src": frm}


def delivered_result(
    note: str, latency: float, path: list[str], attempts: int = 1, frm: str = "ada"
) -> dict[str, Any]:
    return {
        "kind": "result",
        "note": note,
        "from": frm,
        "to": path[-1],
        "state": "delivered",
        "flag": None,
        "reason": None,
        "cause": None,
        "latency": latency,
        "attempts": attempts,
        "path": path,
    }


def failed_result(note: str, cause: str | None, flag: str | None = None, attempts: int = 1) -> dict[str, Any]:
    return {
        "kind": "result",
        "note": note,
        "from": "ada",
        "to": "cy",
        "state": "failed",
        "flag": flag,
        "reason": "it went wrong",
        "cause": cause,
        "latency": 1.0,
        "attempts": attempts,
        "path": None,
    }


def handed(note: str, hand: str = "cy") -> dict[str, Any]:
    return {"kind": "delivered", "note": note, "hand": hand, "from": "ada", "path": ["ada", hand]}


def link(hand: str, peer: str | None, tls: str | None = "TLSv1.3", mutual: bool = True) -> dict[str, Any]:
    return {
        "kind": "link_accepted",
        "hand": hand,
        "peer": peer,
        "identity": None,
        "tls": tls,
        "mutual": mutual,
    }


def peeked(readable: bool) -> dict[str, Any]:
    return {"kind": "peeked", "note": "n", "hand": "bob", "readable": readable, "saw": "..."}


def history() -> list[dict[str, Any]]:
    """Six notes: three delivered (one of them twice at the desk), three failed."""
    return [
        {"kind": "room_ready", "seconds": 1.25},
        *(sent(f"n{i}") for i in range(6)),
        handed("n0"),
        delivered_result("n0", 0.010, ["ada", "bob", "cy"]),
        handed("n1"),
        handed("n1"),  # a duplicate at the desk
        delivered_result("n1", 0.020, ["ada", "dee", "cy"], attempts=2),
        handed("n2"),
        delivered_result("n2", 0.030, ["ada", "bob"], attempts=1),
        failed_result("n3", "timeout", flag="T", attempts=3),
        failed_result("n4", "denied", flag="P"),
        failed_result("n5", None),
        peeked(True),
        peeked(False),
        peeked(True),
        link("bob", "ada"),
        link("ada", "bob"),  # the same link, seen from both ends
        link("cy", "bob", tls="TLSv1.3", mutual=False),
        link("dee", "cy", tls=None, mutual=False),
        link("ada", None),  # an unidentified peer is not a link
        {
            "kind": "tls_rejected",
            "hand": "cy",
            "peer": None,
            "direction": "inbound",
            "reason": "unknown ca",
            "t": 1.0,
        },
        {"kind": "protocol_error", "hand": "bob", "reason": "bad frame"},
        {"kind": "forwarded", "note": "n0", "hand": "bob"},  # ignored by the report
    ]


def test_report_counts_notes() -> None:
    report = build_report(make_level([]), 42, history(), [{"pid": 1}], speed=2.0)
    assert report["level"] == "test-level"
    assert report["seed"] == 42
    assert report["profile"] == "istio"
    assert report["speed"] == 2.0
    assert report["processes"] == [{"pid": 1}]
    assert report["notes"] == {"sent": 6, "delivered": 3, "failed": 3, "duplicates": 1, "in_flight": 0}
    assert report["ledger_ok"] is True
    assert report["passed"] is True  # no objectives and a sound ledger


def test_report_failures_by_cause_and_flags() -> None:
    report = build_report(make_level([]), 1, history(), [])
    assert set(FAILURE_CAUSES) <= set(report["failures"])
    assert report["failures"]["timeout"] == 1
    assert report["failures"]["denied"] == 1
    assert report["failures"]["refused"] == 0
    assert report["failures"]["other"] == 1  # a failure without a cause
    assert sum(report["failures"].values()) == report["notes"]["failed"]
    assert report["flags"] == {"T": 1, "P": 1}


def test_report_failure_with_an_unlisted_cause_is_counted() -> None:
    events = [sent("n0"), failed_result("n0", "tampered", flag="UC")]
    report = build_report(make_level([]), 1, events, [])
    assert report["failures"]["tampered"] == 1
    assert report["flags"] == {"UC": 1}


def test_report_latency_retries_hands() -> None:
    report = build_report(make_level([]), 1, history(), [])
    assert report["latency_ms"]["p50"] == pytest.approx(20.0)
    assert report["latency_ms"]["p99"] == pytest.approx(29.8)
    assert report["retries"] == 1 + 2  # n1 took 2 attempts, n3 took 3
    assert report["hands"] == {"min": 2, "max": 3}


def test_report_telemetry_counters() -> None:
    report = build_report(make_level([]), 1, history(), [])
    assert report["intermediaries_read"] == 2
    assert report["protocol_errors"] == 1
    assert report["room_ready_s"] == 1.25
    assert report["tls_rejected"] == [
        {"hand": "cy", "peer": None, "direction": "inbound", "reason": "unknown ca"}
    ]


def test_report_links_are_deduplicated_and_sorted() -> None:
    report = build_report(make_level([]), 1, history(), [])
    assert report["links"] == [
        {"a": "ada", "b": "bob", "tls": "TLSv1.3", "mutual": True},
        {"a": "bob", "b": "cy", "tls": "TLSv1.3", "mutual": False},
        {"a": "cy", "b": "dee", "tls": "none", "mutual": False},
    ]


def test_a_link_is_mutual_only_if_every_end_says_so() -> None:
    events = [
        link("ada", "bob", mutual=True),
        link("bob", "ada", mutual=False),
        link("cy", "dee", tls="TLSv1.3"),
        link("dee", "cy", tls=None),
    ]
    report = build_report(make_level([]), 1, events, [])
    assert report["links"] == [
        {"a": "ada", "b": "bob", "tls": "TLSv1.3", "mutual": False},
        {"a": "cy", "b": "dee", "tls": "none", "mutual": True},
    ]


def test_empty_history() -> None:
    report = build_report(make_level([Objective("delivered_ratio", ">=", 0.5)]), 1, [], [])
    assert report["notes"] == {"sent": 0, "delivered": 0, "failed": 0, "duplicates": 0, "in_flight": 0}
    assert report["ledger_ok"] is True
    assert report["latency_ms"] == {"p50": 0.0, "p99": 0.0}
    assert report["hands"] == {"min": 0, "max": 0}
    assert report["room_ready_s"] is None
    assert report["links"] == []
    assert report["passed"] is False  # 0 delivered of 0 sent does not meet the objective


def test_ledger_broken_by_a_note_without_result() -> None:
    events = [sent("n0"), delivered_result("n0", 0.01, ["ada", "cy"]), sent("n1")]
    report = build_report(make_level([]), 1, events, [])
    assert report["ledger_ok"] is False
    assert report["notes"]["in_flight"] == 1
    assert report["passed"] is False


def test_ledger_broken_by_a_note_with_two_results() -> None:
    events = [sent("n0"), delivered_result("n0", 0.01, ["ada", "cy"]), failed_result("n0", "timeout")]
    report = build_report(make_level([]), 1, events, [])
    assert report["ledger_ok"] is False
    assert report["passed"] is False
    # the first result is the one that counts
    assert report["notes"]["delivered"] == 1
    assert report["notes"]["failed"] == 0


def test_ledger_broken_by_a_result_for_a_note_never_sent() -> None:
    events = [
        sent("n0"),
        delivered_result("n0", 0.01, ["ada", "cy"]),
        delivered_result("ghost", 0.01, ["ada", "cy"]),
    ]
    report = build_report(make_level([]), 1, events, [])
    assert report["ledger_ok"] is False
    assert report["passed"] is False


def test_objectives_are_checked_against_the_report() -> None:
    objectives = [
        Objective("delivered_ratio", ">=", 0.5),
        Objective("duplicates", "==", 0),
        Objective("failed_timeout", "<=", 1),
        Objective("links_mtls_ratio", ">", 0.5),
        Objective("intermediaries_read", "==", 2),
    ]
    report = build_report(make_level(objectives), 1, history(), [])
    by_metric = {o["metric"]: o for o in report["objectives"]}
    assert [o["metric"] for o in report["objectives"]] == [o.metric for o in objectives]
    assert by_metric["delivered_ratio"]["value"] == pytest.approx(0.5)
    assert by_metric["delivered_ratio"]["passed"] is True
    assert by_metric["duplicates"] == {
        "metric": "duplicates",
        "op": "==",
        "target": 0,
        "value": 1,
        "passed": False,
    }
    assert by_metric["failed_timeout"]["passed"] is True
    assert by_metric["links_mtls_ratio"]["value"] == pytest.approx(1 / 3)
    assert by_metric["links_mtls_ratio"]["passed"] is False
    assert by_metric["intermediaries_read"]["passed"] is True
    assert report["passed"] is False


def test_level_passes_when_every_objective_holds() -> None:
    objectives = [
        Objective("delivered_ratio", ">=", 0.5),
        Objective("failed", "==", 3),
        Objective("policy_denied", "==", 1),
        Objective("ledger_ok", "==", 1),
    ]
    report = build_report(make_level(objectives), 1, history(), [])
    assert all(o["passed"] for o in report["objectives"])
    assert report["passed"] is True


def test_sound_objectives_do_not_hide_a_broken_ledger() -> None:
    events = [*history(), sent("lost")]
    report = build_report(make_level([Objective("delivered", ">=", 3)]), 1, events, [])
    assert report["objectives"][0]["passed"] is True
    assert report["ledger_ok"] is False
    assert report["passed"] is False


def test_renewed_cards_are_counted_as_cert_rotations() -> None:
    issued = {"kind": "cert_issued", "hand": "ada", "identity": "spiffe://x/ns/t/sa/ada"}
    renewed = {"kind": "cert_rotated", "hand": "ada", "identity": "spiffe://x/ns/t/sa/ada"}
    report = build_report(make_level([Objective("cert_rotations", ">=", 2)]), 1,
                          [issued, renewed, {**renewed, "hand": "bob"}], [])
    assert report["cert_rotations"] == 2
    assert report_metrics(report)["cert_rotations"] == 2
    assert report["objectives"][0]["passed"]
    only_issued = build_report(make_level([]), 1, [issued], [])
    assert only_issued["cert_rotations"] == 0
