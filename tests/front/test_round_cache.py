"""The per-worker round cache stops promptly: once ``stop`` is set, a refresh in progress starts
no new look at a round (the last view is kept), so a worker shutting down waits only for the
calls in flight — it never has to cancel a Redis call half-way (which left a connection open)."""

from __future__ import annotations

import asyncio
from typing import Any

from flashsale.front.routes.rounds import RoundCache

ROUNDS = [f"r{i:03}" for i in range(200)]
LOOK = 0.01  # seconds one look at a round takes here


class ArmedSet:
    """The armed-rounds set (the one Redis call the cache makes itself)."""

    async def smembers(self, key: str) -> set[bytes]:
        return {r.encode() for r in ROUNDS}


class SlowRounds:
    """Describes each round after LOOK seconds, counting the looks."""

    def __init__(self, mark: int) -> None:
        self.looks = 0
        self.mark = mark
        self.marked = asyncio.Event()  # set at the mark-th look

    async def describe(self, round_id: str) -> dict[str, Any]:
        self.looks += 1
        if self.looks == self.mark:
            self.marked.set()
        await asyncio.sleep(LOOK)
        return {"round_id": round_id, "status": "live", "left": 1, "starts_at": 0,
                "ends_at": 2**62}  # fmt: skip


async def test_stop_ends_a_refresh_in_progress_without_cancelling_it() -> None:
    rounds = SlowRounds(mark=len(ROUNDS) + 20)  # 20 looks into the second refresh
    cache = RoundCache(ArmedSet(), rounds, interval=0.01)  # type: ignore[arg-type]
    await cache.refresh()
    assert set(cache.rounds) == set(ROUNDS)
    assert rounds.looks == len(ROUNDS)

    stop = asyncio.Event()
    task = asyncio.create_task(cache.run(stop))
    await asyncio.wait_for(rounds.marked.wait(), 5)
    stop.set()
    at_stop = rounds.looks
    await asyncio.wait_for(task, 5)
    assert rounds.looks - at_stop <= 8  # only the looks in flight (8 at once) were finished
    assert set(cache.rounds) == set(ROUNDS)  # the view is whole: the rest kept from before
