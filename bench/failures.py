"""What failure handling costs and buys: lossy hops with retries, retry storms and budgets.

    python bench/failures.py [--quick] [--json]

Real rounds (office, aisles, proxies, students as processes), passing time zero:

* lossy: 1,000 notes (300 with --quick) through an intermediary who drops 30% of what he
  relays, once without retries (the baseline) and once with retries and a per-try timeout:
  delivered %, duplicates, retries per note, p50/p99;
* storm: a chain alice -> ben -> cara -> dev -> eli where dev refuses every note, every hand
  retrying twice on 5xx: the load that reaches dev per note sent, without and with a
  DestinationRule retryBudget (percent 0, minRetryConcurrency 1), in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classroom.level import load_level  # noqa: E402
from classroom.mesh.runtime import net  # noqa: E402
from classroom.mesh.runtime.round import Round, wait_gone  # noqa: E402
from classroom.report import build_report  # noqa: E402

CHAIN = ["alice", "ben", "cara", "dev", "eli"]


def chain_level(name: str, behaviours: dict[str, Any], traffic: dict[str, Any],
                resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "classroom.mesh/v1", "kind": "Level", "metadata": {"name": name},
        "room": {"rows": 1, "cols": len(CHAIN), "passing_time": "0ms", "links": "neighbours"},
        "students": [{"name": n, "seat": [0, i], **({"behaviour": behaviours[n]} if n in behaviours else {})}
                     for i, n in enumerate(CHAIN)],
        "traffic": [traffic],
        "mesh": {"resources": resources},
    }


def vs(host: str, **http: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": host},
            "spec": {"hosts": [host], "http": [{"route": [{"destination": {"host": host}}], **http}]}}


def dr(host: str, **policy: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": host},
            "spec": {"host": host, "trafficPolicy": policy}}


def play(directory: Path, doc: dict[str, Any]) -> dict[str, Any]:
    path = directory / f"{doc['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(doc))
    level = load_level(str(path))
    round_ = Round(level, level.resources, seed=7)
    result = net.run(round_.run())
    assert not wait_gone(round_.pids()), "a process outlived its round"
    return build_report(level, 7, result.events, result.processes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    notes = 300 if args.quick else 1000
    traffic = {"from": "alice", "to": "eli", "count": notes, "every": "3ms", "text": "pass it on"}
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        lossy = {"ben": {"drops": 0.3}}
        rows = []
        for label, retries in (("no retries", {"attempts": 0}),
                               ("retries", {"attempts": 10, "perTryTimeout": "100ms",
                                            "retryOn": "5xx,reset,connect-failure"})):
            report = play(directory, chain_level(f"lossy-{len(rows)}", lossy, traffic,
                                                 [vs("eli", timeout="20s" if retries["attempts"] else "300ms",
                                                     retries=retries)]))
            n = report["notes"]
            rows.append((label, 100.0 * n["delivered"] / n["sent"], n["duplicates"],
                         report["retries"] / n["sent"], report["latency_ms"]["p50"],
                         report["latency_ms"]["p99"], report["ledger_ok"]))
        print(f"lossy hop (ben drops 30%), {notes} notes")
        header = ("", "delivered %", "dupes", "retries/note", "p50 ms", "p99 ms")
        print("{:12} {:>11} {:>6} {:>13} {:>8} {:>8} ledger".format(*header))
        for label, delivered, dupes, per_note, p50, p99, ok in rows:
            print(f"{label:12} {delivered:11.1f} {dupes:6d} {per_note:13.2f} {p50:8.1f} {p99:8.1f} {ok}")
        out.update(lossy_delivered_pct_no_retries=round(rows[0][1], 2),
                   lossy_delivered_pct_retries=round(rows[1][1], 2), lossy_duplicates=rows[1][2],
                   lossy_retries_per_note=round(rows[1][3], 3))

        storm_traffic = {**traffic, "count": 40 if args.quick else 100, "every": "20ms"}
        refusing = {"dev": {"refuses": True}}
        retry = vs("eli", timeout="10s", retries={"attempts": 2, "retryOn": "5xx"})
        storm = play(directory, chain_level("storm", refusing, storm_traffic, [retry]))
        calm = play(directory, chain_level("budget", refusing, storm_traffic, [
            retry, dr("eli", retryBudget={"percent": 0, "minRetryConcurrency": 1})]))
        print(f"\nretry storm: dev refuses, every hand retries twice, {storm_traffic['count']} notes")
        print(f"{'':12} {'tries at dev/note':>18} {'retries/note':>13} {'ledger':>7}")
        for label, report in (("no budget", storm), ("retryBudget", calm)):
            print(f"{label:12} {report['hop_load'].get('dev', 0):18.2f} "
                  f"{report['retries'] / report['notes']['sent']:13.2f} {report['ledger_ok']!s:>7}")
        ratio = storm["hop_load"]["dev"] / max(calm["hop_load"]["dev"], 1e-9)
        print(f"the budget cuts the load on dev by {ratio:.1f}x")
        out.update(storm_dev_load_per_note=storm["hop_load"]["dev"],
                   budget_dev_load_per_note=calm["hop_load"]["dev"],
                   storm_over_budget_ratio=round(ratio, 2))
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
