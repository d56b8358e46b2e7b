"""The round's clock: room time shared through a file, paused, stepped and slowed; the fake clock."""

from __future__ import annotations

import asyncio
import os

import pytest

from classroom.mesh.runtime.clock import FakeClock, RoomClock, SharedClock

pytestmark = pytest.mark.timeout(20)


async def seen(room: RoomClock, rate: float) -> None:
    """Wait (up to 5 s) until this process's clock has taken the runner's signal."""
    async with asyncio.timeout(5.0):
        while room.rate != rate:
            await asyncio.sleep(0.005)


@pytest.fixture
def shared() -> SharedClock:
    clock = SharedClock(rate=1.0)
    clock.pids.append(os.getpid())  # this process stands for a process of the round
    yield clock
    clock.close()


async def test_a_process_reads_the_same_room_time_as_the_runner(shared: SharedClock) -> None:
    room = RoomClock(shared.path)
    room.listen()
    assert abs(room.now() - shared.now()) < 0.01
    shared.set_rate(4.0)
    await seen(room, 4.0)
    before, real = room.now(), asyncio.get_running_loop().time()
    await asyncio.sleep(0.1)
    ran = (room.now() - before) / (asyncio.get_running_loop().time() - real)
    assert 3.0 < ran < 5.0, f"room time should run 4x real time, ran {ran:.2f}x"


async def test_a_paused_clock_fires_no_timer_and_resuming_fires_it_in_room_time(shared: SharedClock) -> None:
    room = RoomClock(shared.path)
    room.listen()
    fired: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    room.call_later(0.2, lambda: fired.set_result(room.now()))
    due = room.now() + 0.2
    shared.set_rate(0.0)
    await seen(room, 0.0)
    frozen = room.now()
    with pytest.raises(TimeoutError):  # an expected silence: nothing may fire while paused
        await asyncio.wait_for(asyncio.shield(fired), 0.5)
    assert room.now() == frozen
    shared.set_rate(1.0)
    fired_at = await asyncio.wait_for(fired, 5.0)
    assert fired_at >= due - 0.002  # never early in room time, although real time ran on during the pause


async def test_a_step_moves_room_time_on_while_paused(shared: SharedClock) -> None:
    room = RoomClock(shared.path)
    room.listen()
    shared.set_rate(0.0)
    fired: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    room.call_later(0.3, lambda: fired.set_result(None))
    shared.advance(0.5)  # past the timer: it fires, though the class stays paused
    await asyncio.wait_for(fired, 5.0)
    assert shared.paused


async def test_wait_gives_up_at_a_room_time_and_cancels_what_it_waited_for() -> None:
    clock = FakeClock()
    waited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    result: list[object] = []

    async def waiter() -> None:
        try:
            result.append(await clock.wait(waited, clock.now() + 2.0))
        except TimeoutError:
            result.append("timeout")

    task = asyncio.ensure_future(waiter())
    await clock.advance(1.9)
    assert result == []
    await clock.advance(0.2)
    await task
    assert result == ["timeout"] and waited.cancelled()


async def test_the_fake_clock_fires_timers_in_order_as_time_is_moved() -> None:
    clock = FakeClock()
    order: list[str] = []
    clock.call_later(2.0, order.append, "second")
    clock.call_later(1.0, order.append, "first")
    cancelled = clock.call_later(1.5, order.append, "never")
    cancelled.cancel()
    await clock.advance(1.0)
    assert order == ["first"]
    await clock.advance(5.0)
    assert order == ["first", "second"] and clock.now() == pytest.approx(1_000_006.0)


async def test_wait_on_a_gathering_that_times_out_raises_timeout_and_cancels_it() -> None:
    clock = FakeClock()
    loop = asyncio.get_running_loop()
    parts = [loop.create_future(), loop.create_future()]
    parts[0].set_result(1)  # one link came up, the other never will
    gathering = asyncio.gather(*parts)
    outcome: list[object] = []

    async def waiter() -> None:
        try:
            outcome.append(await clock.wait(gathering, clock.now() + 1.0))
        except TimeoutError:
            outcome.append("timeout")

    task = asyncio.ensure_future(waiter())
    await clock.advance(1.5)
    await task
    assert outcome == ["timeout"] and parts[1].cancelled()


async def test_a_laptops_clock_follows_the_hosts_anchor_and_tells_its_processes(shared: SharedClock) -> None:
    """``follow`` sets room time and rate at once (a joined laptop's copy of the host's clock); every
    process reading the file, and every listener (the host's laptops), hears of each change."""
    heard: list[float] = []
    shared.listeners.append(lambda: heard.append(shared.rate))
    room = RoomClock(shared.path)
    room.listen()
    shared.follow(1_000.0, 0.0)
    await seen(room, 0.0)
    assert room.now() == shared.now() == 1_000.0  # paused: it stays exactly there
    shared.follow(2_000.0, 2.0)
    await seen(room, 2.0)
    assert 2_000.0 <= room.now() < 2_001.0
    shared.set_rate(1.0)
    shared.advance(0.5)
    assert heard[:3] == [0.0, 2.0, 1.0] and len(heard) > 3  # and the step was heard too
