"""The objectives' registry: every metric's words, format and computation, the ops, and the verdicts."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from conftest import LEVELS, REPO
from rich.console import Console

from classroom.game.model.classmodel import ClassModel
from classroom.headless import print_summary
from classroom.level import Objective, list_levels, load_level
from classroom.objectives import (
    METRICS,
    NO_VALUE,
    OPS,
    REGISTRY,
    SIGNS,
    UNITS,
    goal_words,
    judge,
    metric,
)
from classroom.report import report_metrics

# The names levels may use, in the order the level checker lists them (levels in the wild use these).
LEVEL_METRICS = (
    "delivered_ratio", "delivered", "failed", "sent", "duplicates", "in_flight", "retries", "retries_ratio",
    "delivery_p50", "delivery_p99", "teacher_read", "teacher_caught", "impersonations",
    "impersonations_accepted", "intermediaries_read", "policy_denied", "ledger_ok", "failed_timeout",
    "failed_refused", "failed_denied", "failed_reset", "failed_absent", "split_v2_ratio", "max_hop_load",
    "tls_rejected", "links_mtls_ratio", "ejections", "cert_rotations",
)


def test_the_registry_is_pure() -> None:
    # It reads the mesh's outcome table (pure data), nothing else of the mesh.
    code = ("import sys, classroom.objectives; print([m for m in sys.modules if m in "
            "('pygame', 'asyncio', 'classroom.level') or m.startswith(('classroom.mesh.', 'classroom.game')) "
            "and m != 'classroom.mesh.outcomes'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_the_names_levels_may_use_are_kept_in_their_order() -> None:
    assert METRICS[:len(LEVEL_METRICS)] == LEVEL_METRICS  # new metrics come after, never between
    assert tuple(m.name for m in REGISTRY.values()) == METRICS


@pytest.mark.parametrize("name", METRICS)
def test_every_metric_has_words_and_formats(name: str) -> None:
    m = REGISTRY[name]
    assert metric(name) is m and m.name == name
    assert m.words and m.words == m.words.strip() and "_" not in m.words
    assert m.unit in UNITS
    for value in (0, 1, 0.5, 812.4):
        assert isinstance(m.format(value), str) and m.format(value)
    assert m.format(None) == NO_VALUE


def test_the_formats() -> None:
    assert metric("delivered_ratio").format(0.95) == "95%"
    assert metric("delivery_p99").format(812.4) == "812 ms"
    assert (metric("ledger_ok").format(1.0), metric("ledger_ok").format(0.0)) == ("yes", "no")
    assert metric("retries_ratio").format(1.25) == "1.25"
    assert metric("delivered").format(15) == "15"
    assert metric("max_hop_load").format(0.667) == "0.667"


def test_an_unknown_metric_reads_as_its_name() -> None:
    stand_in = metric("notes_eaten")
    assert stand_in.words == "notes eaten" and stand_in.format(2.5) == "2.5"
    assert stand_in.compute({}) is None


def test_goal_words() -> None:
    assert goal_words("delivered_ratio", ">=", 0.95) == "notes delivered ≥ 95%"
    assert goal_words("delivery_p50", "<", 500) == "p50 delivery time < 500 ms"
    assert goal_words("teacher_read", "==", 0) == "notes the teacher read = 0"
    assert goal_words("ledger_ok", "==", 1) == "every note accounted for"
    assert set(SIGNS) == set(OPS)


def small_report() -> dict[str, Any]:
    """A report as build_report writes it, by hand: 4 notes, 3 delivered, one timed out."""
    return {
        "notes": {"sent": 4, "delivered": 3, "failed": 1, "duplicates": 0, "in_flight": 0},
        "ledger_ok": True,
        "failures": {"timeout": 1, "refused": 0, "denied": 0, "reset": 0, "absent": 0, "other": 0},
        "retries": 5,
        "ejections": 0,
        "cert_rotations": 0,
        "hop_load": {"ada": 1.0, "bob": 0.75},
        "latency_ms": {"p50": 120.0, "p99": 400.0},
        "split": {"v1": 0.5, "v2": 0.5},
        "teacher": {"read": 2, "caught": 0, "impersonations": 1, "impersonations_accepted": 0},
        "intermediaries_read": 0,
        "tls_rejected": [{"hand": "cy"}],
        "links": [{"a": "ada", "b": "bob", "tls": "TLSv1.3", "mutual": True},
                  {"a": "bob", "b": "cy", "tls": "none", "mutual": False}],
    }


def test_metrics_computed_from_a_small_report() -> None:
    report = small_report()
    assert REGISTRY["delivered_ratio"].compute(report) == 0.75
    assert REGISTRY["retries_ratio"].compute(report) == 1.25
    assert REGISTRY["links_mtls_ratio"].compute(report) == 0.5
    assert REGISTRY["failed_timeout"].compute(report) == 1
    assert REGISTRY["max_hop_load"].compute(report) == 1.0
    metrics = report_metrics(report)
    assert set(metrics) == set(METRICS) | {"failed_other"}
    assert metrics["teacher_read"] == 2 and metrics["tls_rejected"] == 1 and metrics["ledger_ok"] == 1.0
    assert isinstance(metrics["delivered"], int)  # counts stay whole numbers in the report's JSON
    assert json.dumps(judge(Objective("delivered", "==", 3), metrics)["value"]) == "3"
    del report["failures"]["absent"]
    assert "failed_absent" not in report_metrics(report)  # not in the report: not measured


@pytest.mark.parametrize("stem", sorted(p.stem for p in LEVELS.glob("*.yaml")))
def test_the_hud_shows_the_registry_s_words_and_formats(stem: str) -> None:
    level = load_level(str(LEVELS / f"{stem}.yaml"))
    rows = ClassModel.from_level(level).objectives()
    assert [label for label, *_ in rows] == [REGISTRY[o.metric].words for o in level.objectives]
    assert [target for _, _, target, _ in rows] == [
        f"{o.op} {REGISTRY[o.metric].format(o.value)}" for o in level.objectives
    ]


def test_the_terminal_summary_shows_the_words_beside_the_metric() -> None:
    level = list_levels()[0]
    metrics = report_metrics(small_report())
    report = {**small_report(), "level": level.name, "seed": 1, "profile": "istio", "passed": True,
              "objectives": [judge(o, metrics) for o in
                             [Objective("delivered_ratio", ">=", 0.95), Objective("ledger_ok", "==", 1)]]}
    console = Console(record=True, width=160)
    print_summary(console, report)
    out = console.export_text()
    line = next(text for text in out.splitlines() if "delivered_ratio" in text)
    assert "notes delivered" in line and ">= 95%" in line and "75%" in line and "missed" in line
    line = next(text for text in out.splitlines() if "ledger_ok" in text)
    assert "every note accounted for" in line and "yes" in line and "met" in line


# --------------------------------------------------------------------------- verdicts (was report.check)

SOME_METRICS = {"delivered_ratio": 0.9, "failed": 3.0, "duplicates": 0.0}


@pytest.mark.parametrize(
    ("op", "target", "passed"),
    [
        (">=", 0.9, True),
        (">=", 0.95, False),
        ("<=", 0.9, True),
        ("<=", 0.5, False),
        ("==", 0.9, True),
        ("==", 1.0, False),
        (">", 0.8, True),
        (">", 0.9, False),
        ("<", 1.0, True),
        ("<", 0.9, False),
        ("!=", 1.0, True),
        ("!=", 0.9, False),
    ],
)
def test_judge_every_op(op: str, target: float, passed: bool) -> None:
    result = judge(Objective("delivered_ratio", op, target), SOME_METRICS)
    assert result == {"metric": "delivered_ratio", "op": op, "target": target, "value": 0.9, "passed": passed}


def test_judge_covers_every_op_in_the_table() -> None:
    assert set(OPS) == {">=", "<=", "==", ">", "<", "!="}


def test_judge_of_an_unknown_metric_fails() -> None:
    result = judge(Objective("no_such_metric", ">=", 0), SOME_METRICS)
    assert result["passed"] is False
    assert result["value"] is None


def test_judge_of_a_zero_metric_is_not_treated_as_missing() -> None:
    assert judge(Objective("duplicates", "==", 0), SOME_METRICS)["passed"] is True
