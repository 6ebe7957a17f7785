"""The relay parks an event over the Kafka message size limit and skips a poisoned round
(WRONGTYPE) while every other event and round is published; consumer names are stable across
restarts and stale consumers are removed (issue 12)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from checkout.events import OrderEvent
from checkout.pipeline import parking
from checkout.pipeline.ledger import dead_letter_key
from checkout.pipeline.reconcile import reconcile
from checkout.pipeline.relay import GROUP, Relay, RelayConfig, default_consumer
from flashsale.core.audit import Operator
from flashsale.core.settings import Settings
from inventory.keys import ARMED_ROUNDS, RoundKeys
from tests.support.parking import parked_rows
from tests.support.pipeline import disarm, eventually, reserved, xadd
from tests.support.relay import orders_records


async def _consume_ids(settings: Settings, want: set[str]) -> set[str]:
    def ids(records: list[Any]) -> set[str]:
        return {orjson.loads(r.value)["event_id"] for r in records}

    return ids(await orders_records(settings, lambda got: want <= ids(got)))


def _huge(event: OrderEvent, size: int) -> OrderEvent:
    return OrderEvent(**{**event.__dict__, "data": {**event.data, "blob": "x" * size}})


@pytest.mark.timeout(90)
async def test_oversize_event_and_poisoned_round_parked_others_published(
    own: Settings, redis: Redis, pg_pool: asyncpg.Pool, unique: str
) -> None:
    prefix = f"pr-{unique}"
    good_a, good_b, bad = f"{prefix}-a", f"{prefix}-b", f"{prefix}-bad"
    events_a = [reserved(good_a, n) for n in range(1, 21)]
    big = _huge(reserved(good_a, 21), 10_000)
    events_b = [reserved(good_b, n) for n in range(1, 21)]
    await xadd(redis, [*events_a[:10], big, *events_a[10:], *events_b])
    await redis.set(RoundKeys(bad).outbox, "not a stream")  # WRONGTYPE for every stream command
    await redis.sadd(ARMED_ROUNDS, bad)  # type: ignore[misc]
    config = RelayConfig(
        consumer=f"pr-{unique}",
        round_prefix=prefix,
        claim_every=0.1,
        max_message_bytes=4096,
        batch=8,
    )
    relay = Relay(own, redis, config, pg_pool)
    task = asyncio.create_task(relay.run())
    try:
        want = {e.event_id for e in events_a + events_b}
        got = await _consume_ids(own, want)
        assert want <= got
        assert big.event_id not in got

        async def moved() -> bool:
            return len(await parked_rows(pg_pool, process="relay", round_id=good_a)) == 1

        await eventually(moved, within=20)
        assert await redis.xlen(dead_letter_key(good_a)) == 0  # moved into PostgreSQL

        async def drained() -> bool:
            for r in (good_a, good_b):
                key = RoundKeys(r).outbox
                if await redis.xlen(key) or (await redis.xpending(key, GROUP))["pending"]:
                    return False
            return True

        await eventually(drained, within=20)  # acked and trimmed once Kafka acknowledged
        # still running: later events of the good rounds go through
        late = reserved(good_b, 99)
        await xadd(redis, [late])
        assert late.event_id in await _consume_ids(own, {late.event_id})
        assert not task.done()
    finally:
        relay.stop()
        await asyncio.wait_for(task, 20)
        await disarm(redis, good_a, good_b, bad)
        await redis.delete(RoundKeys(bad).outbox)
    assert relay.stats.parked == 1
    assert relay.stats.round_errors == 1  # recorded once, not on every pass
    (row,) = await parked_rows(pg_pool, process="relay", round_id=good_a)
    assert row["reason"] == "oversize"
    assert row["order_id"] == big.order_id
    assert bytes(row["payload"]) == big.to_json()
    assert row["entry_id"]
    (poisoned,) = await parked_rows(pg_pool, process="relay", round_id=bad)
    assert poisoned["reason"] == "round_error:WRONGTYPE"
    assert poisoned["payload"] is None

    # the limit was the problem: retry re-publishes it with the default (1 MiB) limit
    out = await parking.retry(own, pg_pool, redis, row["id"], Operator("ops"))
    assert out["changed"] is True
    assert big.event_id in await _consume_ids(own, {big.event_id})


async def test_relay_without_postgres_keeps_parked_entries_in_redis(
    own: Settings, redis: Redis, pg_pool: asyncpg.Pool, unique: str
) -> None:
    r = f"nopg-{unique}"
    big = _huge(reserved(r, 2), 10_000)
    await xadd(redis, [reserved(r, 1), big])
    relay = Relay(own, redis, RelayConfig(consumer=r, round_prefix=r, max_message_bytes=4096))
    task = asyncio.create_task(relay.run())
    try:

        async def drained() -> bool:
            return await redis.xlen(RoundKeys(r).outbox) == 0

        await eventually(drained, within=20)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 20)
        await disarm(redis, r)
    (entry,) = await redis.xrange(dead_letter_key(r))
    assert entry[1][b"_reason"] == b"oversize"
    assert entry[1][b"order_id"] == big.order_id.encode()
    report = await reconcile(own, redis, pg_pool, r)
    parked = next(d for d in report.differences if d.code == "parked")
    assert (parked.count, parked.sample) == (1, ["outbox:dead:1"])
    # once PostgreSQL is there, the next relay moves it into the parked table
    relay = Relay(own, redis, RelayConfig(consumer=r, round_prefix=r, claim_every=0.1), pg_pool)
    await redis.sadd(ARMED_ROUNDS, r)  # type: ignore[misc]
    task = asyncio.create_task(relay.run())
    try:

        async def moved() -> bool:
            return await redis.xlen(dead_letter_key(r)) == 0

        await eventually(moved, within=20)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 20)
        await disarm(redis, r)
    (row,) = await parked_rows(pg_pool, process="relay", round_id=r)
    assert (row["reason"], row["order_id"]) == ("oversize", big.order_id)
    report = await reconcile(own, redis, pg_pool, r)
    assert (
        next(d for d in report.differences if d.code == "parked")
        .sample[0]
        .startswith(f"{row['id']}:relay:oversize:")
    )


def test_default_consumer_name_is_stable() -> None:
    assert RelayConfig().consumer == RelayConfig().consumer == default_consumer()
    assert str(os.getpid()) not in default_consumer().removeprefix("relay-")
    assert default_consumer(3) == f"{default_consumer()}-3"


@pytest.mark.timeout(60)
async def test_restarted_relay_resumes_its_pending_and_stale_consumers_go(
    own: Settings, redis: Redis, unique: str
) -> None:
    r = f"stable-{unique}"
    outbox = RoundKeys(r).outbox
    events = [reserved(r, n) for n in range(1, 11)]
    await xadd(redis, events)
    await redis.xgroup_create(outbox, GROUP, id="0", mkstream=True)
    name = default_consumer(int(unique[:4], 16) % 1000)
    # a relay of this name read 4 entries and died; another consumer read 3 and died long ago;
    # a third never read anything
    await redis.xreadgroup(GROUP, name, {outbox: ">"}, count=4)
    await redis.xreadgroup(GROUP, f"gone-{unique}", {outbox: ">"}, count=3)
    await redis.xgroup_createconsumer(outbox, GROUP, f"idle-{unique}")
    await asyncio.sleep(0.4)
    config = RelayConfig(
        consumer=name,
        round_prefix=r,
        claim_every=0.1,
        min_idle_ms=200,
        stale_consumer_ms=300,
    )
    relay = Relay(own, redis, config)
    task = asyncio.create_task(relay.run())
    try:

        async def tidy() -> bool:
            consumers = await redis.xinfo_consumers(outbox, GROUP)
            return await redis.xlen(outbox) == 0 and [c["name"] for c in consumers] == [
                name.encode()
            ]

        await eventually(tidy, within=20)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 20)
        await disarm(redis, r)
    assert relay.stats.published == 10
    assert relay.stats.claimed == 3  # only the other consumer's; its own 4 were resumed
    assert relay.stats.removed_consumers == 2
