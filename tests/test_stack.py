"""The proxy's layers on a fake clock: retry, budget, outlier ejection and return, deadlines, balancing.

No process, no socket: a :class:`FakeHand` gives the layers what a hand gives them, the
transport writes into a list instead of a link's connection, and the test answers (or does
not) and moves time with :meth:`FakeClock.advance`.  Each test takes milliseconds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from classroom.mesh import outcomes
from classroom.mesh.control.policy import Budget, DestinationPolicy, MeshPolicy, Outlier, Retries, TrafficPolicy
from classroom.mesh.data import drive, outbound, stack
from classroom.mesh.data.cluster import Cluster
from classroom.mesh.data.exchange import Exchange
from classroom.mesh.data.links import Link
from classroom.mesh.outcomes import Flag, Outcome
from classroom.mesh.runtime import messages, wire
from classroom.mesh.runtime.clock import FakeClock
from classroom.mesh.runtime.dice import Dice

pytestmark = pytest.mark.timeout(10)


class FakeConn:
    """A link's connection that keeps what is written to it."""

    def __init__(self) -> None:
        self.notes: list[messages.Note] = []

    def write(self, data: bytes) -> bool:
        decoder = wire.FrameDecoder()
        decoder.receive_data(data)
        self.notes.extend(messages.Note.decode(frame) for frame in decoder.frames())
        return True


class FakeHand:
    """What a hand gives its layers: a name, a clock, dice, a policy, links and routes."""

    def __init__(self, policy: MeshPolicy | None = None, neighbours: tuple[str, ...] = ("ben", "gus")) -> None:
        self.name = "alice"
        self.clock = FakeClock()
        self.dice = Dice(7)
        self.policy = policy or MeshPolicy(default_attempts=2)
        self.neighbours: dict[str, Link] = {}
        self.conns: dict[str, FakeConn] = {}
        for name in neighbours:
            link = Link(name, f"spiffe://classroom.local/ns/test/sa/{name}", ("127.0.0.1", 1))
            conn = FakeConn()
            link.conn = conn  # type: ignore[assignment]
            self.neighbours[name] = link
            self.conns[name] = conn
        self.routes = {"fay": list(neighbours)}
        self.ties = {"fay": 1}  # ben first, gus a detour
        self.in_class = frozenset({"alice", "fay", *neighbours})
        self.clusters: dict[tuple[str, str | None], Cluster] = {}
        self.passing_delay = 0.0
        self.capture = None
        self.events: list[dict[str, Any]] = []
        self.settled: list[Outcome] = []

    def emit(self, kind: str, **fields: Any) -> None:
        self.events.append({"kind": kind, "t": self.clock.now(), **fields})

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]

    def cluster(self, host: str, subset: str | None = None) -> Cluster:
        key = (host, subset)
        if key not in self.clusters:
            self.clusters[key] = Cluster(host, subset, self.policy.traffic(host, subset), self.clock)
        return self.clusters[key]

    async def wait_present(self, student: str, until: float) -> bool:
        await self.clock.sleep_until(until)
        return student in self.in_class

    async def wait_link_up(self, links: list[Link], until: float) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for link in links:
            link.wait_up(waiter)
        try:
            await self.clock.due(waiter, until)
        except TimeoutError:
            pass

    def settle(self, ex: Exchange, outcome: Outcome) -> None:
        self.settled.append(outcome)

    # --- driving ------------------------------------------------------------------------------
    def exchange(self, note: str = "alice>fay#1", timeout: float = 15.0, retries: Retries | None = None,
                 origin: bool = True) -> Exchange:
        now = self.clock.now()
        rule = self.policy.rule("fay")
        return Exchange(note, "alice", "fay", "fay", "t" * 32, now + timeout, ["alice"], b"sealed", True, False,
                        retries or self.policy.retries(rule), origin=origin, cluster=self.cluster("fay"),
                        rule=rule, started=now)

    def send(self, ex: Exchange, layer: Any = None) -> list[Outcome]:
        """Start ``ex`` down the origin stack (or ``layer``); the list gets its outcome."""
        got: list[Outcome] = []
        drive.start((layer or stack.origin_stack(self, outbound.Transport(self), self.policy)).handle(ex), got.append)  # type: ignore[arg-type]
        return got

    def answer(self, peer: str, delivered: bool = True, **failure: Any) -> messages.Note:
        """Answer the last note ``peer`` was handed."""
        note = self.conns[peer].notes[-1]
        self.neighbours[peer].answer(messages.Ack(note.id, note.attempt, delivered, peer, path=[*note.path, peer],
                                                  **failure), self.name)
        return note


def retries(attempts: int, retry_on: str = "5xx", per_try: float | None = None) -> Retries:
    return Retries(attempts=attempts, per_try_timeout=per_try, retry_on=tuple(retry_on.split(",")))


def refused(hand: FakeHand, peer: str) -> None:
    hand.answer(peer, False, kind="refused-stream", code=503, cause="refused", reason=f"{peer} refuses")


async def test_a_note_answered_at_once_is_delivered_with_one_span() -> None:
    hand = FakeHand()
    got = hand.send(hand.exchange())
    await hand.clock.settle()
    note = hand.answer("ben")
    await hand.clock.settle()
    assert [o.ok for o in got] == [True] and hand.settled == got
    assert note.path == ["alice"] and note.tries == [0] and note.deadline == hand.clock.now() + 15.0
    assert [e["outcome"] for e in hand.kinds("span")] == ["delivered"]


async def test_a_refused_try_is_retried_on_the_other_neighbour_then_runs_out_with_urx() -> None:
    hand = FakeHand()
    got = hand.send(hand.exchange(retries=retries(2)))
    for expected in ("ben", "gus", "ben"):  # a retry prefers a hop not tried yet, then any
        await hand.clock.advance(0.3)  # past any backoff (at most 75 ms for two retries)
        assert hand.conns[expected].notes, f"expected a try to {expected}"
        refused(hand, expected)
    await hand.clock.advance(0.3)
    assert len(got) == 1 and not got[0].ok
    assert got[0].flag == Flag.URX and got[0].cause == "refused"
    assert [e["attempt"] for e in hand.kinds("retried")] == [1, 2]


async def test_a_policy_denial_is_never_retried() -> None:
    hand = FakeHand()
    got = hand.send(hand.exchange(retries=retries(5)))
    await hand.clock.settle()
    hand.answer("ben", False, kind="denied", code=403, cause="denied", reason="RBAC: access denied")
    await hand.clock.advance(1.0)
    assert len(got) == 1 and got[0].status == 403 and got[0].flag is None
    assert hand.kinds("retried") == [] and len(hand.conns["gus"].notes) == 0


async def test_the_per_try_timeout_gives_up_on_a_try_and_the_note_timeout_on_the_note() -> None:
    from classroom.mesh.control.policy import RouteRule

    hand = FakeHand(MeshPolicy(routes={"fay": (RouteRule(timeout=2.5, retries=retries(10, "5xx", per_try=1.0)),)}))
    got = hand.send(hand.exchange(timeout=2.5))
    await hand.clock.advance(1.0)
    spans = hand.kinds("span")
    assert len(spans) == 1 and spans[0]["flag"] == "UT"  # the first try gave up at 1 s
    await hand.clock.advance(1.0)
    assert got == []  # still trying: the note has time left
    await hand.clock.advance(0.6)
    assert len(got) == 1 and got[0].flag == Flag.UT
    assert got[0].reason == "no answer within the note's timeout"
    assert len(hand.kinds("span")) == 3  # tries at 0 s, ~1 s and ~2 s; the last one ended by the deadline


async def test_the_retry_budget_stops_retries_beyond_its_share() -> None:
    budget = DestinationPolicy(TrafficPolicy(budget=Budget(0.0, 1)))
    policy = MeshPolicy(default_attempts=3, destinations={"fay": budget})
    hand = FakeHand(policy)
    got = [hand.send(hand.exchange(f"alice>fay#{i}", retries=retries(3))) for i in (1, 2)]
    await hand.clock.settle()
    refused(hand, "ben")  # the second note's first try: it takes the budget's one retry
    hand.conns["ben"].notes.pop()
    refused(hand, "ben")  # the first note's first try: no retry left in the budget
    await hand.clock.settle()
    # One retry may run at once (minRetryConcurrency 1, 0%): the other note fails at once, unflagged.
    assert [e["note"] for e in hand.kinds("retry_budget_exhausted")] == ["alice>fay#1"]
    assert [o.flag for o in got[0]] == [None] and got[1] == []
    assert [e["note"] for e in hand.kinds("retried")] == ["alice>fay#2"]


async def test_consecutive_5xx_eject_a_hop_and_it_comes_back_after_the_ejection_time() -> None:
    outlier = Outlier(consecutive_errors=2, base_ejection_time=10.0, max_ejection_percent=100, interval=1.0)
    detected = DestinationPolicy(TrafficPolicy(outlier=outlier))
    hand = FakeHand(MeshPolicy(default_attempts=0, destinations={"fay": detected}), neighbours=("ben",))
    for i in (1, 2):
        hand.send(hand.exchange(f"alice>fay#{i}", retries=retries(0)))
        await hand.clock.settle()
        refused(hand, "ben")
        await hand.clock.settle()
    assert [(e["peer"], e["seconds"]) for e in hand.kinds("ejected")] == [("ben", 10.0)]
    got = hand.send(hand.exchange("alice>fay#3", retries=retries(0)))
    await hand.clock.settle()
    assert got and got[0].flag == Flag.UH  # the only hop is ejected: no healthy upstream
    await hand.clock.advance(10.0)
    got = hand.send(hand.exchange("alice>fay#4", retries=retries(0)))
    await hand.clock.settle()
    hand.answer("ben")
    await hand.clock.settle()
    assert got and got[0].ok  # back in the pool after baseEjectionTime


async def test_a_try_waits_once_for_a_link_being_dialed_again() -> None:
    hand = FakeHand(neighbours=("ben",))
    link = hand.neighbours["ben"]
    conn = link.conn
    link.conn, link.dialing = None, True
    got = hand.send(hand.exchange(retries=retries(0)))
    await hand.clock.advance(0.5)
    assert got == [] and hand.conns["ben"].notes == []
    link.came_up(conn)  # type: ignore[arg-type]
    await hand.clock.settle()
    hand.answer("ben")
    await hand.clock.settle()
    assert got and got[0].ok


async def test_no_neighbour_on_the_route_is_no_healthy_upstream() -> None:
    hand = FakeHand(neighbours=("ben",))
    hand.neighbours["ben"].conn = None
    got = hand.send(hand.exchange(retries=retries(0)))
    await hand.clock.settle()
    assert got and got[0].flag == Flag.UH and got[0].cause == "absent"


async def test_a_link_reset_fails_the_tries_on_it_at_once() -> None:
    hand = FakeHand(neighbours=("ben",))
    got = hand.send(hand.exchange(retries=retries(0)))
    await hand.clock.settle()
    hand.neighbours["ben"].reset("alice")
    await hand.clock.settle()
    assert got and got[0].flag == Flag.UC and got[0].kind == outcomes.Kind.RESET


async def test_an_injected_abort_fails_with_fi_and_its_status() -> None:
    from classroom.mesh.control.policy import Fault, RouteRule

    policy = MeshPolicy(routes={"fay": (RouteRule(fault=Fault(abort_percent=100.0, abort_status=418),
                                                  retries=retries(0)),)})
    hand = FakeHand(policy)
    got = hand.send(hand.exchange(retries=retries(0)))
    await hand.clock.settle()
    assert got and got[0].flag == Flag.FI and got[0].status == 418
    assert hand.conns["ben"].notes == [] and [e["fault"] for e in hand.kinds("fault_injected")] == ["abort"]


async def test_a_relay_has_no_ledger_and_no_faults() -> None:
    from classroom.mesh.control.policy import Fault, RouteRule

    policy = MeshPolicy(routes={"fay": (RouteRule(fault=Fault(abort_percent=100.0)),)})
    hand = FakeHand(policy)
    relay = stack.relay_stack(hand, outbound.Transport(hand), hand.policy)  # type: ignore[arg-type]
    got = hand.send(hand.exchange(origin=False, retries=retries(0)), relay)
    await hand.clock.settle()
    hand.answer("ben")
    await hand.clock.settle()
    assert got and got[0].ok and hand.settled == [] and hand.kinds("fault_injected") == []


def test_retryable_follows_envoys_retry_on() -> None:
    def failure(why: outcomes.Why) -> Outcome:
        return Outcome.failure(why, "x")

    assert outcomes.retryable(frozenset({"5xx"}), failure(outcomes.HAND_REFUSES))
    assert outcomes.retryable(frozenset({"refused-stream"}), failure(outcomes.HAND_REFUSES))
    assert not outcomes.retryable(frozenset({"reset"}), failure(outcomes.HAND_REFUSES))
    assert outcomes.retryable(frozenset({"reset"}), failure(outcomes.LINK_RESET))
    assert outcomes.retryable(frozenset({"connect-failure"}), failure(outcomes.CONNECT_FAILURE))
    assert not outcomes.retryable(frozenset({"5xx", "403"}), failure(outcomes.RBAC_DENIED))
    assert outcomes.retryable(frozenset({"gateway-error"}), failure(outcomes.TRY_TIMEOUT))
    assert not outcomes.retryable(frozenset({"gateway-error"}), Outcome.failure(outcomes.FAULT_ABORT, "x"))
    assert outcomes.retryable(frozenset({"503"}), Outcome.failure(outcomes.FAULT_ABORT, "x"))


def pooled(**pool: Any) -> MeshPolicy:
    from classroom.mesh.control.policy import Pool

    return MeshPolicy(default_attempts=2, destinations={"fay": DestinationPolicy(TrafficPolicy(pool=Pool(**pool)))})


async def test_the_circuit_breaker_lets_limit_notes_go_queues_pending_ones_and_turns_away_the_rest() -> None:
    hand = FakeHand(pooled(max_connections=1, max_pending=1), neighbours=("ben",))
    got = [hand.send(hand.exchange(f"alice>fay#{i}", retries=retries(2, "5xx"))) for i in (1, 2, 3)]
    await hand.clock.settle()
    assert len(hand.conns["ben"].notes) == 1  # one in flight, one queued, one over the limit
    assert [o.flag for o in got[2]] == [Flag.UO] and got[2][0].status == 503
    assert hand.kinds("retried") == []  # an overflow is never retried
    hand.answer("ben")  # the first is answered: the queued one goes
    await hand.clock.settle()
    assert len(hand.conns["ben"].notes) == 2 and got[0][0].ok
    hand.answer("ben")
    await hand.clock.settle()
    assert got[1] and got[1][0].ok


async def test_max_retries_caps_the_retries_outstanding_at_once() -> None:
    hand = FakeHand(pooled(max_retries=1), neighbours=("ben",))
    got = [hand.send(hand.exchange(f"alice>fay#{i}", retries=retries(3, "5xx"))) for i in (1, 2)]
    await hand.clock.settle()
    refused(hand, "ben")  # the second note's try: takes the one retry allowed
    hand.conns["ben"].notes.pop()
    refused(hand, "ben")  # the first note's try: no retry left
    await hand.clock.settle()
    assert [e["note"] for e in hand.kinds("retry_overflow")] == ["alice>fay#1"] and got[0] and got[1] == []


async def test_round_robin_and_least_request_spread_notes_over_equally_near_hops() -> None:
    from classroom.mesh.control.policy import ROUND_ROBIN

    rr = FakeHand(MeshPolicy(destinations={"fay": DestinationPolicy(TrafficPolicy(load_balancer=ROUND_ROBIN))}))
    rr.ties = {"fay": 2}  # ben and gus equally near
    for i in range(4):
        rr.send(rr.exchange(f"alice>fay#{i}"))
    await rr.clock.settle()
    assert (len(rr.conns["ben"].notes), len(rr.conns["gus"].notes)) == (2, 2)
    lr = FakeHand()  # Istio's default: least request, two random choices
    lr.ties = {"fay": 2}
    for i in range(20):
        lr.send(lr.exchange(f"alice>fay#{i}"))
    await lr.clock.settle()
    assert abs(len(lr.conns["ben"].notes) - len(lr.conns["gus"].notes)) <= 2  # kept even while none answers


async def test_linkerd_s_peak_ewma_balancer_sends_notes_to_the_neighbour_that_answers_faster() -> None:
    from classroom.mesh.control.policy import PEAK_EWMA

    async def play(hand: FakeHand) -> dict[str, int]:
        hand.ties = {"fay": 2}  # ben and gus equally near; ben answers in 300 ms, gus in 10 ms
        counts = {"ben": 0, "gus": 0}
        for i in range(30):
            before = {peer: len(hand.conns[peer].notes) for peer in counts}
            hand.send(hand.exchange(f"alice>fay#{i}"))
            await hand.clock.settle()
            peer = next(p for p in counts if len(hand.conns[p].notes) > before[p])
            counts[peer] += 1
            await hand.clock.advance(0.3 if peer == "ben" else 0.01)
            hand.answer(peer)
            await hand.clock.settle()
        return counts

    ewma = await play(FakeHand(MeshPolicy(default_balancer=PEAK_EWMA)))
    assert ewma["ben"] <= 2 < 28 <= ewma["gus"]  # once ben has answered slowly, the notes go to gus
    even = await play(FakeHand())  # least request counts notes in flight only: both get their share
    assert even["ben"] >= 8 and even["gus"] >= 8


def test_peak_ewma_jumps_to_a_slower_answer_and_decays_towards_faster_ones() -> None:
    from classroom.mesh.data.resilience import EWMA_DECAY, peak_ewma

    assert peak_ewma(None, 0.0, 0.2) == 0.2
    assert peak_ewma(0.05, 1.0, 0.2) == 0.2  # the peak, at once
    after_one_decay = peak_ewma(0.2, EWMA_DECAY, 0.0)
    assert abs(after_one_decay - 0.2 / 2.718281828) < 1e-6  # e^-1 of the old estimate is left


async def test_a_fault_delay_comes_once_before_any_try() -> None:
    from classroom.mesh.control.policy import Fault, RouteRule

    hand = FakeHand(MeshPolicy(routes={"fay": (RouteRule(fault=Fault(delay_percent=100.0, delay=2.0)),)}))
    ex = hand.exchange()
    got = hand.send(ex)
    await hand.clock.advance(1.9)
    assert hand.conns["ben"].notes == []
    await hand.clock.advance(0.2)
    assert len(hand.conns["ben"].notes) == 1 and ex.retries.attempts == 0  # and no retries under a fault
    refused(hand, "ben")
    await hand.clock.settle()
    assert got and got[0].flag is None and hand.kinds("retried") == []
