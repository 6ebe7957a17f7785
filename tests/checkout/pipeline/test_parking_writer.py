"""The writer parks what PostgreSQL rejects or what does not decode, writes every other event,
commits the offsets and keeps consuming; reconcile reports the parked events and `flashsale
parked retry` re-feeds a corrected one (issue 12)."""

from __future__ import annotations

import asyncio
import base64
import random
from pathlib import Path

import asyncpg
import orjson
import pytest
from aiokafka import TopicPartition
from redis.asyncio import Redis

from checkout.events import OrderEvent
from checkout.pipeline._apply import apply_batch
from checkout.pipeline.observe import kafka_lag
from checkout.pipeline.reconcile import reconcile
from checkout.pipeline.writer import Writer, WriterConfig
from flashsale.core.db import create_pool
from flashsale.core.settings import Settings
from flashsale.core.sink import Delivered, SinkFault, SinkUnavailable, apply_isolating
from flashsale.core.topics import Topics
from tests.support.cli import cli, operator_env
from tests.support.parking import message, parked_rows, produce_raw, with_nul, wrong_types
from tests.support.pipeline import eventually, order_count, reserved


@pytest.mark.timeout(120)
async def test_poisoned_events_parked_and_the_writer_goes_on(
    own: Settings,
    redis: Redis,
    pg_pool: asyncpg.Pool,
    env: dict[str, str],
    unique: str,
    tmp_path: Path,
) -> None:
    topic = Topics(own.topic_prefix).orders
    r = f"pw-{unique}"
    good = [reserved(r, n) for n in range(1, 31)]
    nul = with_nul(reserved(r, 31))
    odd = reserved(r, 32)
    await produce_raw(
        own.kafka_bootstrap,
        topic,
        [message(e) for e in good[:10]]
        + [message(nul), (None, b"not json \x00\xff"), (odd.order_id.encode(), wrong_types(odd))]
        + [message(e) for e in good[10:20]],
    )
    group = f"pw-{unique}"
    writer = Writer(own, pg_pool, WriterConfig(group=group))
    task = asyncio.create_task(writer.run())
    try:
        await eventually(lambda: _count(pg_pool, r, 20), within=60)
        await eventually(lambda: _parked(pg_pool, topic, 3), within=30)
        assert not task.done()  # still running
        await produce_raw(own.kafka_bootstrap, topic, [message(e) for e in good[20:]])
        await eventually(lambda: _count(pg_pool, r, 30), within=30)

        async def committed() -> bool:
            return await kafka_lag(own, topic, group) == 0

        await eventually(committed, within=30, every=0.5)
        assert not task.done()
    finally:
        writer.stop()
        await asyncio.wait_for(task, 30)
    assert writer.stats.parked == 3

    rows = await parked_rows(pg_pool, process="writer", topic=topic)
    by_reason = sorted(x["reason"] for x in rows)
    assert by_reason == ["malformed", "malformed", "sink_rejected:22P05"]
    rejected = next(x for x in rows if x["reason"].startswith("sink_rejected"))
    assert rejected["order_id"] == nul.order_id
    assert rejected["round_id"] == r
    assert bytes(rejected["payload"]) == nul.to_json()  # the raw message, byte for byte
    assert rejected["state"] == "parked"
    assert "\x00" not in rejected["message"]
    junk = next(x for x in rows if bytes(x["payload"]) == b"not json \x00\xff")
    assert junk["reason"] == "malformed"
    assert (junk["topic"], junk["kafka_offset"]) == (topic, junk["kafka_offset"])
    assert await pg_pool.fetchval("SELECT count(*) FROM orders WHERE id = $1", nul.order_id) == 0

    report = await reconcile(own, redis, pg_pool, r, group=group)
    parked = next(d for d in report.differences if d.code == "parked")
    assert parked.count == 2  # the NUL one and the wrong-typed one (its round read from JSON)
    assert report.parked == 2

    # the CLI lists them; an operator corrects the payload and re-feeds it
    own_env = {**env, "FLASHSALE_TOPIC_PREFIX": own.topic_prefix}
    rc, out = await cli(own_env, "parked", "list", "--process", "writer", "--round", r, "--json")
    assert rc == 0, out
    assert {x["id"] for x in orjson.loads(out)} >= {rejected["id"]}
    rc, out = await cli(own_env, "parked", "payload", str(rejected["id"]))
    assert rc == 0
    fixed = orjson.loads(out)
    fixed["data"]["pii"]["real_name"] = "a"
    path = tmp_path / "fixed.json"
    path.write_bytes(orjson.dumps(fixed))
    no_token = {k: v for k, v in own_env.items() if k != "FLASHSALE_ADMIN_TOKEN"}
    rc, out = await cli(
        no_token, "parked", "retry", str(rejected["id"]), "--payload-file", str(path)
    )
    assert rc == 1
    assert "credential" in out
    token_env = operator_env(own_env, own, "pat")
    rc, out = await cli(
        token_env, "parked", "retry", str(rejected["id"]), "--payload-file", str(path), "--json"
    )
    assert rc == 0, out
    assert orjson.loads(out)["changed"] is True
    rc, out = await cli(token_env, "parked", "retry", str(rejected["id"]), "--json")
    assert rc == 0, out
    assert orjson.loads(out)["changed"] is False  # once only
    writer = Writer(own, pg_pool, WriterConfig(group=group))
    task = asyncio.create_task(writer.run())
    try:
        await eventually(lambda: _count(pg_pool, r, 31), within=30)
    finally:
        writer.stop()
        await asyncio.wait_for(task, 30)
    pii = await pg_pool.fetchval("SELECT pii FROM orders WHERE id = $1", nul.order_id)
    assert orjson.loads(pii)["real_name"] == "a"
    audit = await pg_pool.fetch(
        "SELECT actor FROM audit_log WHERE action = 'parked.retry' AND subject = $1",
        str(rejected["id"]),
    )
    assert [a["actor"] for a in audit] == ["pat"]
    report = await reconcile(own, redis, pg_pool, r, group=group)
    assert next(d for d in report.differences if d.code == "parked").count == 1


async def test_bisect_isolates_each_rejected_event(pg_pool: asyncpg.Pool, unique: str) -> None:
    r = f"bis-{unique}"
    events = [reserved(r, n) for n in range(1, 41)]
    events[5] = with_nul(events[5])
    events[33] = with_nul(events[33])
    items = [Delivered(_TP, i, e.to_json(), e) for i, e in enumerate(events)]
    new, rejected = await apply_isolating(pg_pool, apply_batch, items)
    assert new == 38
    assert sorted(i.offset for i, _ in rejected) == [5, 33]
    assert {e.reason for _, e in rejected} == {"sink_rejected:22P05"}
    assert await order_count(pg_pool, r) == 38


async def test_outage_is_not_parked(settings: Settings, unique: str) -> None:
    pool = await create_pool(settings.database_url, max_size=2)
    event = reserved(f"out-{unique}", 1)
    await pool.close()  # every acquire now fails like a lost server
    with pytest.raises(SinkUnavailable):
        await apply_isolating(pool, apply_batch, [Delivered(_TP, 0, None, event)])


_TP = TopicPartition("t", 0)


async def _count(pool: asyncpg.Pool, round_id: str, n: int) -> bool:
    return await order_count(pool, round_id) == n


async def _parked(pool: asyncpg.Pool, topic: str, n: int) -> bool:
    return len(await parked_rows(pool, process="writer", topic=topic)) >= n


async def test_a_sink_fault_stops_instead_of_parking_everything(
    pg_pool: asyncpg.Pool, unique: str
) -> None:
    calls = 0

    async def broken(conn: asyncpg.Connection, events: list[object]) -> int:
        nonlocal calls
        calls += 1
        await conn.execute("SELECT * FROM no_such_table_of_the_writer")  # SQLSTATE 42P01
        return 0

    events = [reserved(f"fault-{unique}", n) for n in range(1, 9)]
    with pytest.raises(SinkFault):
        await apply_isolating(
            pg_pool, broken, [Delivered(_TP, i, None, e) for i, e in enumerate(events)]
        )
    assert calls == 1  # not bisected: no event is to blame


async def test_an_event_over_a_program_limit_is_parked(pg_pool: asyncpg.Pool, unique: str) -> None:
    r = f"lim-{unique}"
    ok = reserved(r, 1)
    huge = reserved(r, 2)
    noise = base64.b64encode(random.Random(1).randbytes(15_000)).decode()  # incompressible
    huge = OrderEvent(**{**huge.__dict__, "event_id": f"{noise}:1"})  # an index row too big
    items = [Delivered(_TP, 0, None, ok), Delivered(_TP, 1, None, huge)]
    new, rejected = await apply_isolating(pg_pool, apply_batch, items)
    assert new == 1
    assert [(i.offset, e.reason) for i, e in rejected] == [(1, "sink_rejected:54000")]
