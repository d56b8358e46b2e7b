"""The objectives' metrics, registered once: each one's name, words, format and computation.

Theory of operation
-------------------
A level's objective names a metric, an op and a target (``delivered_ratio >=
0.95``).  Everything about a metric lives in one :class:`Metric` of
:data:`REGISTRY`:

* ``name``: what a level writes; :data:`METRICS` is every name, in the order
  the level checker lists them;
* ``words``: the one phrase every screen shows for it (the HUD, the level
  list, the lesson, the results and the terminal summary), e.g. "notes
  delivered";
* ``unit``: how a value reads (:meth:`Metric.format`): a percentage, a time
  in ms, yes or no, a decimal, or a plain number;
* ``compute``: how it is read from a run report (:mod:`classroom.report`), or
  ``None`` when the report does not have it.

:data:`OPS` maps each op a level may use to its comparison (and :data:`SIGNS`
to how a screen writes it); :func:`judge` gives an objective's verdict over
the metrics of a report, in the shape the report's ``objectives`` list holds.
Pure: no pygame, no asyncio, no mesh.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from classroom.mesh import outcomes

Report = Mapping[str, Any]

# How a metric's value reads (Metric.unit).
COUNT = "count"  # a number of things: 3
PERCENT = "percent"  # a share 0..1, shown in %: 95%
MILLISECONDS = "ms"  # a time in ms: 812 ms
YES_NO = "yes/no"  # 1 or 0: yes, no
DECIMAL = "decimal"  # a ratio that may pass 1: 1.25
NUMBER = "number"  # any other number, as short as it goes: 0.667
NO_VALUE = "–"  # what a screen shows for a metric not measured (yet)

_FORMATS: dict[str, Callable[[float], str]] = {
    COUNT: lambda value: f"{value:g}",
    PERCENT: lambda value: f"{value * 100:.0f}%",
    MILLISECONDS: lambda value: f"{value:.0f} ms",
    YES_NO: lambda value: "yes" if value >= 1 else "no",
    DECIMAL: lambda value: f"{value:.2f}",
    NUMBER: lambda value: f"{value:g}",
}
UNITS = tuple(_FORMATS)

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
    "!=": operator.ne,
}
SIGNS = {">=": "≥", "<=": "≤", "==": "=", ">": ">", "<": "<", "!=": "≠"}

# The causes a failed note's result may give (the outcome table's); each has its metric failed_<cause>.
FAILURE_CAUSES = outcomes.CAUSES


@dataclass(frozen=True)
class Metric:
    name: str
    words: str
    unit: str  # one of UNITS
    compute: Callable[[Report], float | None]

    def format(self, value: float | None) -> str:
        """``value`` as a player reads it: ``95%``, ``812 ms``, ``yes``; :data:`NO_VALUE` for none."""
        return NO_VALUE if value is None else _FORMATS[self.unit](value)


class Goal(Protocol):
    """An objective, as a level holds it (:class:`classroom.level.Objective`)."""

    @property
    def metric(self) -> str: ...

    @property
    def op(self) -> str: ...

    @property
    def value(self) -> float: ...


def _notes(key: str) -> Callable[[Report], float | None]:
    return lambda report: report["notes"][key]


def _per_note(count: Callable[[Report], float]) -> Callable[[Report], float | None]:
    def compute(report: Report) -> float:
        sent = report["notes"]["sent"]
        return count(report) / sent if sent else 0.0

    return compute


def _teacher(key: str) -> Callable[[Report], float | None]:
    return lambda report: report["teacher"][key]


def _failed(cause: str) -> Callable[[Report], float | None]:
    return lambda report: report["failures"].get(cause)


def _links_mtls_ratio(report: Report) -> float:
    links = report["links"]
    return sum(1 for lk in links if lk["tls"] != "none" and lk["mutual"]) / len(links) if links else 0.0


_FAILED_WORDS = {
    "timeout": "notes timed out",
    "refused": "notes refused",
    "denied": "notes denied",
    "reset": "notes lost to resets",
    "absent": "notes to absent students",
}

REGISTRY: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("delivered_ratio", "notes delivered", PERCENT, _per_note(lambda r: r["notes"]["delivered"])),
        Metric("delivered", "notes delivered", COUNT, _notes("delivered")),
        Metric("failed", "notes failed", COUNT, _notes("failed")),
        Metric("sent", "notes sent", COUNT, _notes("sent")),
        Metric("duplicates", "notes delivered twice", COUNT, _notes("duplicates")),
        Metric("in_flight", "notes still in flight", COUNT, _notes("in_flight")),
        Metric("retries", "retries", COUNT, lambda r: r["retries"]),
        Metric("retries_ratio", "retries per note", DECIMAL, _per_note(lambda r: r["retries"])),
        Metric("delivery_p50", "p50 delivery time", MILLISECONDS, lambda r: r["latency_ms"]["p50"]),
        Metric("delivery_p99", "p99 delivery time", MILLISECONDS, lambda r: r["latency_ms"]["p99"]),
        Metric("teacher_read", "notes the teacher read", COUNT, _teacher("read")),
        Metric("teacher_caught", "notes confiscated", COUNT, _teacher("caught")),
        Metric("impersonations", "impersonation attempts", COUNT, _teacher("impersonations")),
        Metric("impersonations_accepted", "impostors believed", COUNT, _teacher("impersonations_accepted")),
        Metric("intermediaries_read", "notes classmates read", COUNT, lambda r: r["intermediaries_read"]),
        Metric("policy_denied", "notes denied by policy", COUNT, lambda r: r["failures"].get("denied", 0)),
        Metric("ledger_ok", "every note accounted for", YES_NO, lambda r: 1.0 if r["ledger_ok"] else 0.0),
        *(Metric(f"failed_{cause}", _FAILED_WORDS[cause], COUNT, _failed(cause)) for cause in FAILURE_CAUSES),
        Metric("split_v2_ratio", "share to the new seat (v2)", PERCENT,
               lambda r: r.get("split", {}).get("v2", 0.0)),
        Metric("max_hop_load", "busiest hand's load", NUMBER,
               lambda r: max(r.get("hop_load", {}).values(), default=0.0)),
        Metric("tls_rejected", "ID cards rejected", COUNT, lambda r: len(r["tls_rejected"])),
        Metric("links_mtls_ratio", "aisles with mTLS", PERCENT, _links_mtls_ratio),
        Metric("ejections", "ejections", COUNT, lambda r: r.get("ejections", 0)),
        Metric("cert_rotations", "ID cards renewed", COUNT, lambda r: r.get("cert_rotations", 0)),
        # Added in the second round of work: after the first round's names, which levels list in this order.
        Metric("forged", "forged notes the teacher handed in", COUNT, lambda r: r["teacher"].get("forged", 0)),
        Metric("forged_accepted", "forged notes believed", COUNT, lambda r: r["teacher"].get("forged_accepted", 0)),
        Metric("overflows", "notes a circuit breaker turned away", COUNT, lambda r: r.get("overflows", 0)),
        Metric("links_dropped", "links the room network's policy closed", COUNT,
               lambda r: len(r.get("network_drops", {}))),
    )
}
METRICS = tuple(REGISTRY)


def metric(name: str) -> Metric:
    """The registered metric ``name``; for a name the registry does not know (an old report's), a
    stand-in that reads it as words and a plain number, and computes nothing."""
    known = REGISTRY.get(name)
    if known is not None:
        return known
    return Metric(name, name.replace("_", " "), NUMBER, lambda report: None)


def goal_words(name: str, op: str, target: float) -> str:
    """An objective as a sentence: ``notes delivered ≥ 95%``; a yes/no one is its words alone."""
    m = metric(name)
    if m.unit == YES_NO:
        return m.words
    return f"{m.words} {SIGNS.get(op, op)} {m.format(target)}"


def judge(objective: Goal, metrics: Mapping[str, float]) -> dict[str, Any]:
    """The verdict on ``objective`` over a report's metrics (an unknown metric is never met)."""
    value = metrics.get(objective.metric)
    passed = value is not None and OPS[objective.op](value, objective.value)
    return {
        "metric": objective.metric,
        "op": objective.op,
        "target": objective.value,
        "value": value,
        "passed": bool(passed),
    }
