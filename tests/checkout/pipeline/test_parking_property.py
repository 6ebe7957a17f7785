"""Property: whatever text an order event carries (any Unicode: NUL, surrogates, private use,
RTL marks, emoji, very long strings), the writer's path decodes it or calls it malformed, writes
it or parks it — and parking itself never fails; the good event next to it always lands."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import orjson
from aiokafka import TopicPartition
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from checkout.events import EventFormatError, OrderEvent
from checkout.pipeline._apply import apply_batch
from flashsale.core.parked import ParkedEvent, park
from flashsale.core.settings import Settings
from flashsale.core.sink import Delivered, apply_isolating
from tests.support.offer import snapshot
from tests.support.pipeline import reserved

TP = TopicPartition("prop", 0)
ANY_TEXT = st.one_of(
    st.text(max_size=40),  # every category, surrogates included
    st.text(st.sampled_from("\x00\u200f\u202e\ue000\U0010fffd\U0001f600\ud800a"), max_size=20),
    st.text(min_size=3000, max_size=6000),
)


async def _one(dsn: str, n: int, name: str, where: str) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    assert pool is not None
    try:
        round_id = f"prop-{n}"
        good = reserved(round_id, 1)
        base = orjson.loads(reserved(round_id, 2).to_json())
        if where == "pii":
            base["data"]["pii"]["real_name"] = name
        elif where == "order_id":
            base["order_id"] = name
        else:
            base["data"]["offer"] = snapshot(offer_name=name)
        raw = json.dumps(base, ensure_ascii=True).encode()  # lone surrogates as \\ud800 escapes
        parked: list[ParkedEvent] = []
        items = [Delivered(TP, 0, good.to_json(), good)]
        try:
            items.append(Delivered(TP, 1, raw, OrderEvent.from_json(raw)))
        except (EventFormatError, TypeError, ValueError):
            parked.append(ParkedEvent.from_kafka("writer", "prop", n, 1, raw, "malformed"))
        _new, rejected = await apply_isolating(pool, apply_batch, items)
        parked += [
            ParkedEvent.from_kafka("writer", "prop", n, i.offset, i.raw, e.reason, str(e), i.event)
            for i, e in rejected
        ]
        assert await park(pool, parked) == len(parked)  # parking is never rejected
        assert good.order_id not in {i.event.order_id for i, _e in rejected}
        assert await pool.fetchval("SELECT count(*) FROM orders WHERE id = $1", good.order_id) == 1
        if not parked and where == "pii":  # written: the same text came back
            pii = await pool.fetchval("SELECT pii FROM orders WHERE id = $1", base["order_id"])
            assert orjson.loads(pii)["real_name"] == name
    finally:
        await pool.close()


_counter = iter(range(10**9))


def test_any_text_is_written_or_parked(settings: Settings) -> None:
    @hsettings(
        max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(name=ANY_TEXT, where=st.sampled_from(["pii", "order_id", "offer"]))
    def check(name: str, where: str) -> None:
        n = next(_counter)
        asyncio.run(_one(settings.database_url, n, name, where))

    check()
