"""Helpers for the edge tests: text strategies over every Unicode category, an oracle of what
the edge may store, an in-process app driven from Hypothesis, and the pipeline run once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import asyncpg
import httpx
from hypothesis import strategies as st
from redis.asyncio import Redis

from checkout.pipeline.relay import Relay, RelayConfig
from checkout.pipeline.writer import Writer, WriterConfig
from flashsale.core.settings import Settings
from flashsale.core.topics import ensure_topics
from tests.support.api import api_client

T = TypeVar("T")

# Every code point: surrogates (Cs), private use (Co), unassigned and noncharacters (Cn),
# controls (Cc), format characters (Cf: RTL marks, ZWJ), emoji, combining marks.
ALL_CHARS = st.characters(codec=None, exclude_categories=())
PRINTABLE = st.characters(categories=("L", "M", "N", "P", "S", "Zs", "Co", "Cf"))
SPECIAL = (
    "\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\u2028", "\u2029",  # controls, breaks
    "\ud800", "\udfff", "\udc80",  # lone surrogates (what surrogateescape makes of bad bytes)
    "\ufffe", "\uffff", "\ufdd0", "\U0010ffff", "\U000e0080",  # noncharacters, unassigned
    "\ue000", "\U000f0000", "\U0010fffd",  # private use
    "\u200e", "\u200f", "\u202e", "\u2066", "\ufeff", "\u200d",  # bidi marks, BOM, ZWJ
    "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1e8\U0001f1f3", "\U0001f600",
    "e\u0301", "\u0301", "\u1e9b\u0323", "\u0958", "\uf900", "\U0001d160", "\u1100\u1161\u11a8",
    " ", "\u3000", "\u00a0", "张伟", "Müller", "محمد", "İı", "ß", "\\", '"', "'", "%s", "{}",
)  # fmt: skip

FRIENDLY = SPECIAL[SPECIAL.index("\ue000") :]  # private use onwards: all storable in a name


def texts(max_size: int = 60) -> st.SearchStrategy[str]:
    """Arbitrary text: short and printable (mostly storable), anything at all, mixtures of the
    special cases above, and very long strings."""
    pieces = st.one_of(st.sampled_from(SPECIAL), st.text(ALL_CHARS, max_size=3))
    printable = st.text(PRINTABLE, min_size=1, max_size=max_size)
    return st.one_of(
        printable,
        st.lists(st.one_of(printable, st.sampled_from(FRIENDLY)), max_size=4).map("".join),
        st.text(ALL_CHARS, max_size=max_size),
        st.lists(pieces, max_size=12).map("".join),
        st.text(ALL_CHARS, min_size=200, max_size=5000),
        st.builds(
            lambda s, n: s * n,
            st.sampled_from(["张", "a", "\U0001f600", " ", "e\u0301", "\u0958"]),
            st.integers(1, 800),
        ),
    )


def storable(value: str, low: int, high: int, max_bytes: int, *, multiline: bool = False) -> bool:
    """The oracle: what the edge must accept (and what it must refuse) — NFC and stripped, no
    control (but tab/newline/CR where allowed), surrogate, unassigned or noncharacter, line
    separators only where allowed, bounds in characters and UTF-8 bytes."""
    for ch in value:
        cat = unicodedata.category(ch)
        if cat in ("Cs", "Cn") or (cat == "Cc" and not (multiline and ch in "\t\n\r")):
            return False
        if ch in "\u2028\u2029" and not multiline:
            return False
    text = nfc(value)
    return low <= len(text) <= high and len(text.encode()) <= max_bytes


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).strip())


def json_bytes(data: Any, *, ascii_only: bool) -> bytes:
    """A JSON body as a client might send it: with ``\\uXXXX`` escapes (lone surrogates become
    ``\\ud800`` escapes) or as raw UTF-8 (lone surrogates become invalid UTF-8 bytes)."""
    return json.dumps(data, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


class Portal:
    """An event loop in a thread, so a synchronous Hypothesis test can drive the async app;
    the app's lifespan runs (and ends) inside one task of that loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_rest() -> None:
            me = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not me]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        with contextlib.suppress(Exception):
            self.call(cancel_rest(), 10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@contextlib.contextmanager
def app_in_portal(settings: Settings) -> Iterator[tuple[Portal, httpx.AsyncClient]]:
    """The in-process app (lifespan included) served from a :class:`Portal`."""
    portal = Portal()
    ready: Future[httpx.AsyncClient] = Future()
    done = asyncio.Event()

    async def serve() -> None:
        try:
            async with api_client(settings) as client:
                ready.set_result(client)
                await done.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    served = asyncio.run_coroutine_threadsafe(serve(), portal.loop)
    try:
        yield portal, ready.result(30)
    finally:
        portal.loop.call_soon_threadsafe(done.set)
        with contextlib.suppress(Exception):
            served.result(30)
        portal.close()


async def run_pipeline(
    settings: Settings,
    redis: Redis,
    pool: asyncpg.Pool,
    round_id: str,
    done: Callable[[], Awaitable[bool]],
    within: float = 90,
) -> None:
    """Relay the round's outbox to Kafka and write it to PostgreSQL until ``done()`` holds."""
    await ensure_topics(settings)
    tag = uuid.uuid4().hex[:8]
    relay = Relay(settings, redis, RelayConfig(consumer=f"edge-{tag}", round_prefix=round_id))
    writer = Writer(settings, pool, WriterConfig(group=f"edge-{tag}"))
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(writer.run())]
    try:
        deadline = time.monotonic() + within
        while not await done():
            for task in tasks:
                if task.done():
                    task.result()  # a process that died: its error is the failure
                    raise AssertionError("a pipeline process stopped")
            if time.monotonic() > deadline:
                raise AssertionError(f"pipeline did not finish within {within}s")
            await asyncio.sleep(0.2)
    finally:
        relay.stop()
        writer.stop()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
