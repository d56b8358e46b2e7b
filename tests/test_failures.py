"""Real rounds where things go wrong: lossy, refusing, slow, absent and killed classmates."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest
from conftest import level_doc

from classroom.level import load_level
from classroom.mesh.runtime.round import Round, alive, wait_gone
from classroom.report import build_report

pytestmark = pytest.mark.timeout(180)
SQUARE = {"alice": [0, 0], "ben": [0, 1], "cara": [1, 0], "dev": [1, 1]}  # two ways from alice to dev


def virtual_service(host: str, **http: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": host},
            "spec": {"hosts": [host], "http": [{"route": [{"destination": {"host": host}}], **http}]}}


def destination_rule(host: str, **traffic_policy: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": host},
            "spec": {"host": host, **({"trafficPolicy": traffic_policy} if traffic_policy else {})}}


def square_doc(traffic: list[dict[str, Any]], behaviours: dict[str, dict[str, Any]] | None = None,
               resources: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    doc = level_doc(traffic=traffic)
    doc["room"] = {"rows": 2, "cols": 2, "passing_time": "0ms", "links": "neighbours"}
    doc["students"] = [{"name": n, "seat": s, **({"behaviour": (behaviours or {})[n]}
                                                  if n in (behaviours or {}) else {})}
                       for n, s in SQUARE.items()]
    doc["mesh"]["resources"] += resources or []
    return doc


Played = tuple[dict[str, Any], list[dict[str, Any]]]


async def play(write_level, doc: dict[str, Any], **kwargs: Any) -> Played:
    level = load_level(str(write_level(doc)))
    round_ = Round(level, level.resources, seed=level.seed, **kwargs)
    result = await round_.run()
    assert wait_gone(round_.pids()) == []
    return build_report(level, level.seed, result.events, result.processes), result.events


def results(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("kind") == "result"]


async def test_a_lossy_intermediary_with_retries_delivers_everything_once(write_level) -> None:
    doc = level_doc(
        traffic=[{"from": "alice", "to": "dev", "count": 200, "every": "5ms", "text": "pass it on"}],
        behaviours={"ben": {"drops": 0.4}},
    )
    doc["mesh"]["resources"].append(virtual_service(
        "dev", timeout="20s", retries={"attempts": 20, "perTryTimeout": "150ms",
                                       "retryOn": "5xx,reset,connect-failure"}))
    report, events = await play(write_level, doc)
    assert report["ledger_ok"]
    assert report["notes"]["delivered"] >= 0.99 * 200
    assert report["notes"]["duplicates"] == 0
    assert report["retries"] > 0
    dropped = sum(1 for e in events if e.get("kind") == "dropped")
    assert dropped > 40  # ben really did lose notes (and replies): ~40% of each pass
    assert sum(report["failures"].values()) == report["notes"]["failed"]


async def test_without_retries_the_same_class_loses_notes(write_level) -> None:
    doc = level_doc(
        traffic=[{"from": "alice", "to": "dev", "count": 50, "every": "5ms", "text": "pass it on"}],
        behaviours={"ben": {"drops": 0.4}},
    )
    doc["mesh"]["resources"].append(virtual_service("dev", timeout="300ms", retries={"attempts": 0}))
    report, events = await play(write_level, doc)
    assert report["ledger_ok"]
    assert report["notes"]["failed"] >= 10
    assert report["failures"]["timeout"] == report["notes"]["failed"]
    assert {e["flag"] for e in results(events) if e["state"] == "failed"} == {"UT"}


async def test_an_absent_recipient_fails_fast_with_the_reason(write_level) -> None:
    doc = level_doc(traffic=[{"from": "alice", "to": "dev", "count": 5, "every": "10ms", "text": "hi"}],
                    behaviours={"dev": {"absent": True}})
    doc["mesh"]["resources"].append(virtual_service("dev", timeout="10s"))
    report, events = await play(write_level, doc)
    assert report["notes"]["failed"] == 5 and report["failures"]["absent"] == 5
    for result in results(events):
        assert result["flag"] == "UH" and "dev" in result["reason"]
        assert result["latency"] < 1.0  # fast: not after the 10 s timeout


async def test_notes_are_held_for_a_recipient_who_comes_back(write_level) -> None:
    doc = square_doc(
        traffic=[{"from": "alice", "to": "dev", "count": 20, "every": "100ms", "text": "wait for me",
                  "hold": True}],
        behaviours={"dev": {"absent_after": "500ms", "back_after": "1500ms"}},
        resources=[virtual_service("dev", timeout="5s",
                                   retries={"attempts": 3, "retryOn": "5xx,reset,unavailable"})],
    )
    report, events = await play(write_level, doc)
    assert report["ledger_ok"]
    assert report["notes"]["delivered"] == 20 and report["notes"]["duplicates"] == 0
    assert any(e.get("kind") == "held" for e in events)
    assert any(e.get("kind") == "student_left" for e in events)
    assert any(e.get("kind") == "student_back" for e in events)


async def test_per_try_timeout_retries_and_overall_timeout_both_act(write_level) -> None:
    # cara is slow (2 s per note she passes); ben is quick. Per-try 200 ms: the retry goes via ben.
    doc = square_doc(
        traffic=[{"from": "alice", "to": "dev", "count": 10, "every": "20ms", "text": "quick"}],
        behaviours={"ben": {"slow": "2s"}},
        resources=[virtual_service("dev", timeout="5s",
                                   retries={"attempts": 2, "perTryTimeout": "200ms", "retryOn": "5xx"})],
    )
    report, events = await play(write_level, doc)
    # Istio's default balancer (least request) sends some first tries to ben: each gave up after 200 ms.
    to_ben = [e for e in events if e.get("kind") == "span" and e.get("hand") == "alice" and e.get("peer") == "ben"]
    assert to_ben and all(e["flag"] == "UT" for e in to_ben)
    assert report["notes"]["delivered"] == 10 and report["retries"] >= len(to_ben)
    assert all(r["path"] == ["alice", "cara", "dev"] for r in results(events))
    assert all(r["latency"] < 1.5 for r in results(events))

    # Both ways slow, no retries and a 300 ms overall timeout: every note fails by timeout.
    doc = square_doc(
        traffic=[{"from": "alice", "to": "dev", "count": 5, "every": "20ms", "text": "quick"}],
        behaviours={"ben": {"slow": "2s"}, "cara": {"slow": "2s"}},
        resources=[virtual_service("dev", timeout="300ms", retries={"attempts": 0})],
    )
    report, events = await play(write_level, doc)
    assert report["failures"]["timeout"] == 5
    assert all(0.25 < r["latency"] < 1.5 and r["flag"] == "UT" for r in results(events))


async def test_outlier_detection_ejects_a_refusing_neighbour(write_level) -> None:
    doc = square_doc(
        traffic=[{"from": "alice", "to": "dev", "count": 30, "every": "20ms", "text": "please"}],
        behaviours={"ben": {"refuses": True}},
        resources=[
            virtual_service("dev", retries={"attempts": 1, "retryOn": "5xx"}),
            destination_rule("dev", outlierDetection={"consecutive5xxErrors": 2, "baseEjectionTime": "30s",
                                                      "maxEjectionPercent": 100}),
        ],
    )
    report, events = await play(write_level, doc)
    assert report["notes"]["delivered"] == 30
    ejected = [e for e in events if e.get("kind") == "ejected"]
    assert ejected and ejected[0]["peer"] == "ben"
    assert report["retries"] == 2  # two refusals eject ben; every later note goes round him


def _chain_storm(budget: dict[str, Any] | None) -> dict[str, Any]:
    doc = level_doc(traffic=[{"from": "alice", "to": "eli", "count": 20, "every": "20ms", "text": "x"}],
                    behaviours={"dev": {"refuses": True}})
    doc["students"] = [s for s in doc["students"] if s["name"] in ("alice", "ben", "cara", "dev", "eli")]
    doc["mesh"]["resources"].append(virtual_service(
        "eli", timeout="10s", retries={"attempts": 2, "retryOn": "5xx"}))
    if budget is not None:
        doc["mesh"]["resources"].append(destination_rule("eli", retryBudget=budget))
    return doc


async def test_a_retry_budget_bounds_the_retry_storm(write_level) -> None:
    # dev refuses to pass notes on to eli. Every hand retries twice: without a budget dev is
    # asked 3 x 3 x 3 = 27 times per note (alice, ben and cara each retrying the hop after them).
    storm, _ = await play(write_level, _chain_storm(None))
    assert storm["hop_load"]["dev"] >= 20
    calm, _ = await play(write_level, _chain_storm({"percent": 0, "minRetryConcurrency": 1}))
    assert calm["hop_load"]["dev"] < storm["hop_load"]["dev"] / 3
    assert calm["retries"] < storm["retries"] / 3
    assert calm["ledger_ok"] and storm["ledger_ok"]


async def test_killing_an_intermediary_mid_round_loses_no_note(write_level) -> None:
    doc = square_doc(
        traffic=[{"from": "alice", "to": "dev", "count": 60, "every": "25ms", "text": "keep going"}],
        resources=[virtual_service("dev", timeout="5s",
                                   retries={"attempts": 3, "perTryTimeout": "300ms",
                                            "retryOn": "5xx,reset,connect-failure"})],
    )
    level = load_level(str(write_level(doc)))
    killed = asyncio.Event()
    seen: list[dict[str, Any]] = []
    round_ = Round(level, level.resources, seed=level.seed)

    def on_event(event: dict[str, Any]) -> None:
        seen.append(event)
        if event.get("kind") == "result" and not killed.is_set() and \
                sum(1 for e in seen if e.get("kind") == "result") >= 10:
            ben = next(p["pid"] for p in round_.processes if p.get("serves") == ["ben"])
            os.kill(ben, signal.SIGKILL)
            killed.set()

    round_.on_event = on_event
    result = await round_.run()
    report = build_report(level, level.seed, result.events, result.processes)
    assert killed.is_set()
    assert report["ledger_ok"] and report["notes"]["sent"] == 60
    assert report["notes"]["in_flight"] == 0
    assert report["notes"]["delivered"] >= 55  # rerouted through cara
    for failure in (r for r in results(result.events) if r["state"] == "failed"):
        assert failure["reason"] and failure["cause"]
    assert any(e.get("kind") == "proxy_lost" for e in result.events)
    assert not any(alive(p) for p in round_.pids())


async def test_a_deny_policy_blocks_exactly_the_notes_it_names(write_level) -> None:
    # gus sits behind alice: his notes to ben go through her hands, and her class rule says no.
    doc = level_doc(traffic=[
        {"from": "gus", "to": "ben", "count": 5, "every": "10ms", "text": "from gus"},
        {"from": "alice", "to": "ben", "count": 5, "every": "10ms", "text": "from alice"},
    ])
    doc["mesh"]["resources"].append({
        "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
        "metadata": {"name": "no-notes-from-gus"},
        "spec": {"selector": {"matchLabels": {"app": "alice"}}, "action": "DENY",
                 "rules": [{"from": [{"source": {"principals": ["classroom.local/ns/test-row/sa/gus"]}}]}]},
    })
    doc["mesh"]["resources"].append(virtual_service("ben", retries={"attempts": 3, "retryOn": "5xx"}))
    report, events = await play(write_level, doc)
    by_sender = {r["from"]: [] for r in results(events)}
    for r in results(events):
        by_sender[r["from"]].append(r)
    assert all(r["state"] == "failed" and r["cause"] == "denied" for r in by_sender["gus"])
    assert all(r["state"] == "delivered" for r in by_sender["alice"])
    assert report["failures"]["denied"] == 5 and report["retries"] == 0  # a denial is never retried
    denials = [e for e in events if e.get("kind") == "policy_denied"]
    assert len(denials) == 5
    assert all(d["policy"] == "test-row/no-notes-from-gus" and d["src_identity"].endswith("/sa/gus")
               and d["dst_identity"].endswith("/sa/alice") for d in denials)


async def test_without_mesh_security_nosy_classmates_read_the_notes(write_level) -> None:
    nosy = {name: {"nosy": True} for name in ("ben", "cara")}
    doc = level_doc(mode="DISABLE", behaviours=nosy,
                    traffic=[{"from": "alice", "to": "dev", "count": 5, "every": "10ms", "text": "secret"}])
    report, events = await play(write_level, doc)
    assert report["notes"]["delivered"] == 5
    assert report["intermediaries_read"] == 10  # ben and cara each read all five
    assert {e["saw"] for e in events if e.get("kind") == "peeked"} == {"secret"}


def canary_doc(weights: tuple[int, int], count: int, v2_fails: float = 0.0) -> dict[str, Any]:
    doc = square_doc(traffic=[{"from": "alice", "to": "dana", "count": count, "every": "2ms",
                               "text": "which seat?"}])
    doc["students"] = [
        {"name": "alice", "seat": [0, 0]}, {"name": "ben", "seat": [0, 1]},
        {"name": "dana-v1", "seat": [1, 0], "labels": {"app": "dana", "version": "v1"}},
        {"name": "dana-v2", "seat": [1, 1], "labels": {"app": "dana", "version": "v2"},
         **({"behaviour": {"fails": v2_fails}} if v2_fails else {})},
    ]
    doc["mesh"]["resources"] += [
        destination_rule("dana"),
        {**virtual_service("dana", route=[
            {"destination": {"host": "dana", "subset": "v1"}, "weight": weights[0]},
            {"destination": {"host": "dana", "subset": "v2"}, "weight": weights[1]}]),},
    ]
    doc["mesh"]["resources"][-2]["spec"]["subsets"] = [
        {"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]
    return doc


async def test_weighted_routes_split_the_notes_between_two_seats(write_level) -> None:
    report, events = await play(write_level, canary_doc((75, 25), 1000))
    assert report["notes"]["delivered"] == 1000
    assert abs(report["split"]["v2"] - 0.25) <= 0.05 and abs(report["split"]["v1"] - 0.75) <= 0.05
    delivered_to = {r["to"] for r in results(events)}
    assert delivered_to == {"dana-v1", "dana-v2"}
    assert all(r["to"] == f"dana-{r['subset']}" for r in results(events))


async def test_a_canary_at_ten_percent_limits_the_damage_of_a_broken_seat(write_level) -> None:
    report, _ = await play(write_level, canary_doc((90, 10), 300, v2_fails=1.0))
    assert 0.05 <= report["split"]["v2"] <= 0.15
    assert report["notes"]["failed"] == round(report["split"]["v2"] * 300)
    assert report["failures"]["refused"] == report["notes"]["failed"]


def identity_policy(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "classroom.mesh/v1", "kind": "IdentityPolicy", "metadata": {"name": "cards"},
            "spec": spec}


def resets(at: str, until: str) -> dict[str, Any]:
    """The aisles cut every link for a moment: every neighbour must show its card again."""
    links = [["alice", "ben"], ["alice", "cara"], ["ben", "dev"], ["cara", "dev"]]
    return {"faults": [{"kind": "reset", "links": links, "at": at, "until": until}]}


async def test_cards_are_renewed_during_a_round_without_losing_a_note(write_level) -> None:
    doc = square_doc(
        traffic=[{"from": "alice", "to": "dev", "count": 1000, "every": "5ms", "text": "renew me"}],
        # Two-second cards renewed at half their life: a second of slack, on a loaded machine too.
        resources=[identity_policy(certLifetime="2s", renewAt=0.5),
                   virtual_service("dev", timeout="5s", retries={"attempts": 5, "perTryTimeout": "300ms",
                                                                 "retryOn": "5xx,reset,connect-failure"})],
    )
    doc["aisles"] = resets("3500ms", "3600ms")  # every link shows its (renewed) card again
    report, events = await play(write_level, doc)
    rotated = [e for e in events if e.get("kind") == "cert_rotated"]
    assert len(rotated) >= 4 * 3  # every student's card, again and again
    assert report["notes"]["delivered"] == 1000 and report["ledger_ok"]
    assert not report["tls_rejected"]


async def test_an_expired_card_is_refused_with_the_reason(write_level) -> None:
    doc = square_doc(
        traffic=[{"from": "alice", "to": "dev", "count": 60, "every": "50ms", "text": "late"}],
        resources=[identity_policy(certLifetime="1s", renewAt=1.5),  # no renewal before expiry
                   virtual_service("dev", timeout="1s", retries={"attempts": 1, "retryOn": "5xx,reset"})],
    )
    doc["aisles"] = resets("1800ms", "1900ms")
    report, events = await play(write_level, doc)
    assert any("expired" in e["reason"] for e in report["tls_rejected"])
    assert report["notes"]["failed"] > 0 and report["ledger_ok"]


async def test_removing_the_old_root_too_early_breaks_the_class(write_level) -> None:
    def rotation(trust_old_until: str) -> dict[str, Any]:
        doc = square_doc(
            traffic=[{"from": "alice", "to": "dev", "count": 60, "every": "50ms", "text": "trust me"}],
            resources=[identity_policy(certLifetime="10s", renewAt=0.5,
                                       caRotation={"at": "500ms", "trustOldRootUntil": trust_old_until}),
                       virtual_service("dev", timeout="2s", retries={"attempts": 2, "retryOn": "5xx,reset"})],
        )
        doc["aisles"] = resets("1s", "1100ms")  # long before anyone's first renewal (at about 5 s)
        return doc

    early, _ = await play(write_level, rotation("600ms"))  # cards from the old CA still in use
    assert early["notes"]["failed"] > 5
    assert any("trusted class CA" in e["reason"] for e in early["tls_rejected"])
    overlap, events = await play(write_level, rotation("6s"))  # every card renewed by then
    assert overlap["notes"]["delivered"] == 60
    assert any(e.get("kind") == "ca_rotated" for e in events)


def migration_doc(mode: str) -> dict[str, Any]:
    doc = level_doc(mode=mode, traffic=[
        {"from": "eli", "to": "alice", "count": 10, "every": "20ms", "text": "from the new kid"},
        {"from": "alice", "to": "dev", "count": 10, "every": "20ms", "text": "among the meshed"}])
    next(s for s in doc["students"] if s["name"] == "eli")["meshed"] = False
    return doc


@pytest.mark.parametrize(("mode", "eli_gets_through", "locked"), [
    ("DISABLE", True, False), ("PERMISSIVE", True, True), ("STRICT", False, True)])
async def test_migrating_to_strict_with_a_student_not_yet_meshed(
    write_level, mode: str, eli_gets_through: bool, locked: bool
) -> None:
    report, events = await play(write_level, migration_doc(mode))
    by_sender: dict[str, list[dict[str, Any]]] = {"eli": [], "alice": []}
    for result in results(events):
        by_sender[result["from"]].append(result)
    assert all(r["state"] == "delivered" for r in by_sender["alice"])
    assert all((r["state"] == "delivered") is eli_gets_through for r in by_sender["eli"])
    tls = {(lk["a"], lk["b"]): lk["tls"] for lk in report["links"]}
    assert tls[("eli", "fay")] == "none" and tls[("dev", "eli")] == "none"
    assert (tls[("alice", "ben")] == "TLSv1.3") is locked
    if not eli_gets_through:
        assert any("plaintext connection refused" in e["reason"] for e in report["tls_rejected"])


async def test_every_retry_waits_again_for_a_link_being_dialed_back(write_level) -> None:
    # alice, ben and cara in a row: alice's only way to cara is her link to ben, cut for 4 s.
    # Each try may wait up to its per-try time for that link to come back; twelve tries
    # outlast the cut, but only if every retry gets its own wait.
    doc = level_doc(traffic=[{"from": "alice", "to": "cara", "count": 4, "every": "100ms",
                              "text": "after the bump"}])
    doc["room"] = {"rows": 1, "cols": 3, "passing_time": "0ms", "links": "neighbours"}
    doc["students"] = [{"name": n, "seat": [0, i]} for i, n in enumerate(("alice", "ben", "cara"))]
    doc["aisles"] = {"faults": [{"kind": "reset", "links": [["alice", "ben"]], "at": "0ms", "until": "4s"}]}
    doc["mesh"]["resources"].append(virtual_service(
        "cara", timeout="30s", retries={"attempts": 12, "perTryTimeout": "500ms", "retryOn": "5xx,reset"}))
    report, events = await play(write_level, doc)
    assert report["ledger_ok"]
    assert any(e.get("kind") == "link_down" and e.get("hand") == "alice" for e in events)  # the cut happened
    assert report["notes"]["delivered"] == report["notes"]["sent"] == 4
