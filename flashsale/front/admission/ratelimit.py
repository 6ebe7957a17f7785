"""Per-buyer and per-IP rate limits shared by every worker, with no Redis call per request.

Each limit is a sliding-window counter: the estimate for a key is
``previous_window * (1 - elapsed_fraction) + current_window``; a request is allowed while the
estimate stays within ``burst``. A worker counts locally and answers from memory; every
``sync_interval`` a background task sends its new counts to Redis (one small script per limit and
window, all in flight together) and takes the totals of every worker back. So the cost per request
is a few dict operations, and a key hammered across N workers can overshoot by at most what each
worker lets through between two exchanges (each worker alone never exceeds ``burst``).
"""

from __future__ import annotations

import asyncio
import math
import time

import redis.asyncio as aioredis

from flashsale.front.admission._lua import script
from flashsale.front.admission.config import Limit
from flashsale.front.admission.keys import rate_counts


class _Window:
    """One limit's counts as this worker knows them."""

    def __init__(self, name: str, limit: Limit) -> None:
        self.name = name
        self.limit = limit
        self.span = limit.window
        self.index = -1
        self.current: dict[str, int] = {}  # known totals (all workers) + local hits since
        self.previous: dict[str, int] = {}
        self.pending: dict[tuple[int, str], int] = {}  # local hits not yet sent to Redis

    def hit(self, key: str, now: float) -> float:
        """0 if allowed (and counted), else the seconds to wait."""
        position = now / self.span
        index = int(position)
        if index != self.index:
            self._roll(index)
        fraction = position - index
        count = self.current.get(key, 0)
        before = self.previous.get(key, 0)
        burst = self.limit.burst
        if before * (1.0 - fraction) + count + 1 > burst:
            return self._wait(count, before, fraction)
        self.current[key] = count + 1
        slot = (index, key)
        self.pending[slot] = self.pending.get(slot, 0) + 1
        return 0.0

    def _roll(self, index: int) -> None:
        self.previous = self.current if index == self.index + 1 else {}
        self.current = {}
        self.index = index

    def _wait(self, count: int, before: int, fraction: float) -> float:
        burst = self.limit.burst
        if count + 1 <= burst:  # the previous window's share fades within this one
            needed = 1.0 - (burst - 1 - count) / before
            return max(needed - fraction, 0.0) * self.span
        needed = 1.0 - (burst - 1) / count  # fade this window's count within the next
        return (1.0 - fraction + needed) * self.span

    def exchange(self, now: float) -> dict[int, list[tuple[str, int]]]:
        """Local hits to send, by window; the current window always (to pull its hot keys)."""
        index = int(now / self.span)
        if index != self.index:
            self._roll(index)
        batch: dict[int, list[tuple[str, int]]] = {index: []}
        pending, self.pending = self.pending, {}
        for (index, key), delta in pending.items():
            batch.setdefault(index, []).append((key, delta))
        return batch

    def learn(self, index: int, totals: dict[str, int]) -> None:
        if index == self.index:
            counts = self.current
        elif index == self.index - 1:
            counts = self.previous
        else:
            return
        for key, total in totals.items():
            counts[key] = max(counts.get(key, 0), total + self.pending.get((index, key), 0))


class RateLimiter:
    """Named limits (e.g. ``buyer``, ``ip``) of one worker; :meth:`sync` shares the counts."""

    def __init__(self, redis: aioredis.Redis, limits: dict[str, Limit]) -> None:
        self._redis = redis
        self._windows = {name: _Window(name, limit) for name, limit in limits.items()}

    def __bool__(self) -> bool:
        return bool(self._windows)

    def check(self, name: str, key: str, now: float | None = None) -> int:
        """0 if the request may go on, else the whole seconds to put in Retry-After."""
        window = self._windows.get(name)
        if window is None:
            return 0
        wait = window.hit(key, time.time() if now is None else now)
        return max(1, math.ceil(wait)) if wait else 0

    async def sync(self, now: float | None = None) -> None:
        """Send local counts, learn everyone's (one round trip, a few scripts in flight)."""
        now = time.time() if now is None else now
        calls = []
        for window in self._windows.values():
            ttl = str(int(window.span * 2000) + 1000)
            hot = str(max(1, window.limit.burst // 2))
            for index, items in window.exchange(now).items():
                calls.append((window, index, items, [ttl, hot]))
        if not calls:
            return
        count = script("count")
        replies = await asyncio.gather(
            *(
                count(
                    self._redis,
                    rate_counts(w.name, i),
                    [*args, *(x for key, delta in items for x in (key, delta))],
                )
                for w, i, items, args in calls
            ),
            return_exceptions=True,
        )
        failed: BaseException | None = None
        for (window, index, items, _), reply in zip(calls, replies, strict=True):
            if isinstance(reply, BaseException):
                failed = reply  # those hits are lost to the others: the limit is approximate
                continue
            *totals, hot = reply
            learned = {k.decode(): int(v) for k, v in zip(hot[::2], hot[1::2], strict=True)}
            learned |= {key: int(n) for (key, _), n in zip(items, totals, strict=True)}
            window.learn(index, learned)
        if failed is not None:
            raise failed
