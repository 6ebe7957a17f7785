"""Coalesces concurrent calls about one round (reservations, outcome look-ups) into one Redis
call per batch.

While a call for a round is in flight, arriving requests queue; the next call takes up to
``max_batch`` of them. Each caller gets its own answer; a failed call fails only its batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from inventory.errors import InventoryError, InventoryUnavailable


class _PerRound(Protocol):
    @property
    def round_id(self) -> str: ...


Req = TypeVar("Req", bound=_PerRound)
Res = TypeVar("Res")


@dataclass
class BatchStats:
    calls: int = 0  # script calls made
    requests: int = 0  # requests sent in them


def _again(exc: InventoryError) -> InventoryError:
    """A fresh copy per caller, so tracebacks of different callers do not pile up on one object."""
    copy = type(exc)(exc.message, **exc.data)
    copy.__cause__ = exc.__cause__
    return copy


class Batcher(Generic[Req, Res]):
    def __init__(
        self, run: Callable[[str, list[Req]], Awaitable[list[Res]]], max_batch: int
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._run = run
        self._max = max_batch
        self._queues: dict[str, list[tuple[Req, asyncio.Future[Res]]]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.stats = BatchStats()

    async def submit(self, req: Req) -> Res:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Res] = loop.create_future()
        self._queues.setdefault(req.round_id, []).append((req, fut))
        if req.round_id not in self._tasks:
            self._tasks[req.round_id] = loop.create_task(self._drain(req.round_id))
        return await fut

    async def _drain(self, round_id: str) -> None:
        queue = self._queues[round_id]
        try:
            while queue:
                batch = [item for item in queue[: self._max] if not item[1].done()]
                del queue[: self._max]
                if batch:
                    await self._send(batch)
        finally:
            self._tasks.pop(round_id, None)
            self._queues.pop(round_id, None)
            for _, fut in queue:  # only left when the drain was cancelled (aclose)
                if not fut.done():
                    fut.set_exception(InventoryUnavailable("inventory closed"))

    async def _send(self, batch: list[tuple[Req, asyncio.Future[Res]]]) -> None:
        self.stats.calls += 1
        self.stats.requests += len(batch)
        try:
            results = await self._run(batch[0][0].round_id, [req for req, _ in batch])
        except InventoryError as exc:
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(_again(exc))
        except Exception as exc:  # noqa: BLE001 - a bug: handed to every caller of this batch
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
        else:
            for (_, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(result)
        finally:
            for _, fut in batch:  # cancelled mid-call, or an unexpected error
                if not fut.done():
                    fut.set_exception(InventoryUnavailable("reservation batch aborted"))

    async def aclose(self, drain_seconds: float) -> None:
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=drain_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
