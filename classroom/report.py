"""The run report: what a round did, judged from its event history.

Pure functions: the runner collects the events of a round; this module
counts them into the report of LEVELS.md and checks the level's objectives.
Like a Jepsen checker, it trusts nothing but the history: a note is
delivered when its sender's proxy recorded it so, and the ledger is sound
when every note sent ended in exactly one of delivered or failed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from classroom.level import Level
from classroom.mesh import outcomes
from classroom.objectives import FAILURE_CAUSES, REGISTRY, judge

TEACHER_EVENTS = {"teacher_read": "read", "teacher_caught": "caught",
                  "teacher_impersonation": "impersonations",
                  "teacher_impersonation_accepted": "impersonations_accepted",
                  "teacher_forged": "forged", "teacher_forged_accepted": "forged_accepted"}
ARRIVALS = outcomes.ARRIVALS  # each arrival of a note (any try) at a hand ends in exactly one of these


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def build_report(
    level: Level,
    seed: int,
    events: Iterable[dict[str, Any]],
    processes: list[dict[str, Any]],
    speed: float = 1.0,
) -> dict[str, Any]:
    sent: dict[str, dict[str, Any]] = {}
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    abandoned: dict[str, dict[str, Any]] = {}
    handed: Counter[str] = Counter()
    links: dict[tuple[str, str], dict[str, Any]] = {}
    intermediaries_read = 0
    tls_rejected: list[dict[str, Any]] = []
    protocol_errors = 0
    room_ready: float | None = None
    retried = 0
    teacher: Counter[str] = Counter()
    arrivals: Counter[str] = Counter()  # notes that reached each hand, tries included
    ejections = 0
    overflows = 0  # notes a circuit breaker turned away (UO)
    rotations = 0
    renewals_failed = 0
    claimed: dict[str, int] = {}
    network_drops: dict[str, dict[str, Any]] = {}  # "a>b" -> the room network's policy drops on that link
    remote_desks: dict[str, str] = {}
    for event in events:
        kind = event.get("kind")
        if kind == "desk_remote":
            remote_desks[str(event.get("seat"))] = str(event.get("address"))
        if kind in ARRIVALS and (kind != "dropped" or event.get("what") == "note") and event.get("note") in sent:
            arrivals[event["hand"]] += 1  # a note the class sent (not one the teacher forged)
        if kind == "sent":
            sent[event["note"]] = event
        elif kind == "result":
            results[event["note"]].append(event)
        elif kind == "abandoned":
            # Its sender's own proxy died with the note (her student, or the runner, recorded it).
            sent.setdefault(event["note"], event)
            abandoned.setdefault(event["note"], event)
        elif kind == "delivered":
            handed[event["note"]] += 1
        elif kind == "peeked" and event.get("readable"):
            intermediaries_read += 1
        elif kind in ("link_accepted", "link_up") and event.get("peer"):
            # The dialing end knows whom it dialed (even in plaintext); the accepting end
            # knows whether the dialer proved its identity with a certificate (mutual).
            a, b = sorted((event["peer"], event["hand"]))
            entry = links.setdefault(
                (a, b), {"a": a, "b": b, "tls": event.get("tls") or "none", "mutual": None}
            )
            if not event.get("tls"):
                entry["tls"] = "none"
            if kind == "link_accepted":
                entry["mutual"] = entry["mutual"] is not False and bool(event.get("mutual"))
        elif kind == "tls_rejected":
            tls_rejected.append({k: event.get(k) for k in ("hand", "peer", "direction", "reason")})
        elif kind == "protocol_error":
            protocol_errors += 1
        elif kind == "room_ready":
            room_ready = float(event["seconds"])
        elif kind == "student_done" and event.get("by") != "student" and isinstance(event.get("sent"), int):
            claimed[str(event["hand"])] = event["sent"]  # what she handed her proxy, by her own count
        elif kind == "retried":
            retried += 1
        elif kind in TEACHER_EVENTS:
            teacher[TEACHER_EVENTS[kind]] += 1
        elif kind == "ejected":
            ejections += 1
        elif kind == "overflow":
            overflows += 1
        elif kind == "cert_rotated":
            rotations += 1
        elif kind == "renewal_failed":
            renewals_failed += 1
        elif kind == "aisle_policy_drop" and type(event.get("link")) is list:
            drop = network_drops.setdefault(">".join(map(str, event["link"])), {
                "policy": event.get("policy"), "reason": event.get("reason"), "connections": 0})
            drop["connections"] += 1

    # A proxy's result is the note's state; a note it never settled, and that was abandoned, failed.
    for note, why in abandoned.items():
        if note not in results:
            results[note].append({"note": note, "state": "failed", "flag": None, "cause": "reset",
                                  "reason": why.get("reason"), "from": why.get("from"), "at": why.get("from"),
                                  "attempts": 1})
    final = {note: rs[0] for note, rs in results.items() if rs}
    delivered = [r for r in final.values() if r["state"] == "delivered"]
    failed = [r for r in final.values() if r["state"] == "failed"]
    ledger_ok = all(len(results.get(note, ())) == 1 for note in sent) and set(results) <= set(sent)
    # Every note a student handed over is in the ledger: as many as she says she sent (a note the ledger
    # never heard of, say one reusing another's id, would end in no recorded state at all).
    sent_by = Counter(note.split(">", 1)[0] for note in sent)
    ledger_ok = ledger_ok and all(sent_by[hand] == count for hand, count in claimed.items())
    failures = {cause: 0 for cause in FAILURE_CAUSES}
    flags: Counter[str] = Counter()
    failed_at: dict[str, Counter[str]] = defaultdict(Counter)  # the hand where each failure began
    for r in failed:
        cause = r.get("cause") or "other"
        failures[cause] = failures.get(cause, 0) + 1
        if r.get("flag"):
            flags[r["flag"]] += 1
        failed_at[str(r.get("at") or r.get("from") or "?")][str(r.get("flag") or cause)] += 1
    latencies = [r["latency"] * 1000.0 for r in delivered]
    # Every retry any hand made, the sender's own and the intermediaries' alike.
    retries = retried or sum(max(int(r.get("attempts", 1)) - 1, 0) for r in final.values())
    hands = [len(r["path"]) for r in delivered if r.get("path")]
    n_sent = len(sent)
    subsets: Counter[str] = Counter(str(e["subset"]) for e in sent.values() if e.get("subset"))
    report: dict[str, Any] = {
        "level": level.name,
        "seed": seed,
        "profile": level.profile,
        "speed": speed,
        "passed": False,
        "objectives": [],
        "notes": {
            "sent": n_sent,
            "delivered": len(delivered),
            "failed": len(failed),
            "duplicates": sum(c - 1 for c in handed.values() if c > 1),
            "in_flight": sum(1 for note in sent if note not in final),
        },
        "ledger_ok": ledger_ok,
        "failures": failures,
        "flags": dict(flags),
        "failed_at": {hand: dict(whys) for hand, whys in sorted(failed_at.items())},
        "retries": retries,
        "ejections": ejections,
        "overflows": overflows,
        "cert_rotations": rotations,  # ID cards renewed before they lapsed
        "renewals_failed": renewals_failed,  # renewals asked of an office that had gone
        "hop_load": {hand: round(n / n_sent, 3) for hand, n in sorted(arrivals.items())} if n_sent else {},
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 3),
            "p99": round(percentile(latencies, 99), 3),
        },
        "hands": {"min": min(hands, default=0), "max": max(hands, default=0)},
        # Where the weighted routes sent the notes: the share of each subset (canary).
        "split": {name: round(n / sum(subsets.values()), 4) for name, n in sorted(subsets.items())},
        "teacher": {key: teacher[key] for key in TEACHER_EVENTS.values()},
        "intermediaries_read": intermediaries_read,
        "tls_rejected": tls_rejected,
        # Links whose connections the room network's policy turned away (Cilium's L3, Hubble's DROPPED).
        "network_drops": dict(sorted(network_drops.items())),
        "protocol_errors": protocol_errors,
        "room_ready_s": room_ready,
        "processes": processes,
        # Desks played from students' own laptops (classroom host), and where from.
        "remote_desks": remote_desks,
        "links": [
            {**lk, "mutual": bool(lk["mutual"])}
            for lk in sorted(links.values(), key=lambda lk: (lk["a"], lk["b"]))
        ],
    }
    metrics = report_metrics(report)
    report["objectives"] = [judge(o, metrics) for o in level.objectives]
    report["passed"] = all(o["passed"] for o in report["objectives"]) and ledger_ok
    return report


def report_metrics(report: dict[str, Any]) -> dict[str, float]:
    """Every numeric field of a report, by the names objectives use (see :mod:`classroom.objectives`)."""
    metrics: dict[str, float] = {}
    for name, metric in REGISTRY.items():
        value = metric.compute(report)
        if value is not None:
            metrics[name] = value
    for cause, count in report["failures"].items():  # and causes no objective names, such as other
        metrics.setdefault(f"failed_{cause}", count)
    return metrics
