"""Kafka stopped for a while and started again: relay and writer retry (bounded backoff) and
catch up with nothing lost or duplicated. Uses a *private* one-node broker on free ports under
tmp_path (the shared broker is never touched); the jars come from the local stack's cache."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from checkout.pipeline.relay import Relay, RelayConfig
from checkout.pipeline.writer import Writer, WriterConfig
from flashsale.core.retry import Backoff
from flashsale.core.settings import Settings
from flashsale.core.topics import ensure_topics
from flashsale.stack._service import Address
from flashsale.stack.kafka import KafkaService
from tests.support.pipeline import disarm, eventually, order_count, paid, reserved, xadd


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return int(port)
    raise RuntimeError("no free port pair")


@pytest.fixture
def private_kafka(settings: Settings, tmp_path: Path, kafka_libs: Path) -> KafkaService:
    libs = kafka_libs
    service = KafkaService(
        settings.kafka_version, Address("127.0.0.1", _free_port_pair()), tmp_path
    )
    service.dir.mkdir(parents=True)
    service.libs.symlink_to(libs)
    return service


@pytest.mark.timeout(150)
async def test_kafka_outage_then_catch_up(
    settings: Settings,
    redis: Redis,
    pg_pool: asyncpg.Pool,
    private_kafka: KafkaService,
    unique: str,
) -> None:
    await private_kafka.start()
    try:
        s = dataclasses.replace(settings, kafka_bootstrap=str(private_kafka.address))
        await ensure_topics(s)
        r = f"outage-{unique}"
        base = [reserved(r, n) for n in range(1, 1001)]
        backoff = Backoff(attempts=200, first=0.1, cap=1.0)
        relay = Relay(
            s, redis, RelayConfig(consumer=f"r-{unique}", round_prefix=r, backoff=backoff)
        )
        writer = Writer(s, pg_pool, WriterConfig(group=f"w-{unique}", backoff=backoff))
        tasks = [asyncio.create_task(relay.run()), asyncio.create_task(writer.run())]
        try:
            await xadd(redis, base[:500])
            await eventually(lambda: _count_is(pg_pool, r, 500), within=40)
            await asyncio.to_thread(private_kafka.stop)  # broker down
            await xadd(redis, base[500:] + [paid(e) for e in base[:500]])
            await asyncio.sleep(3)  # both keep retrying meanwhile
            assert not any(t.done() for t in tasks)
            assert await order_count(pg_pool, r) == 500
            await private_kafka.start()  # broker back: catch up

            async def caught_up() -> bool:
                return (
                    await pg_pool.fetchval("SELECT count(*) FROM order_events WHERE round_id=$1", r)
                    == 1500
                )

            await eventually(caught_up, within=60, every=0.3)
        finally:
            relay.stop()
            writer.stop()
            await asyncio.wait_for(asyncio.gather(*tasks), 30)
            await disarm(redis, r)
        assert await order_count(pg_pool, r) == 1000
        assert (
            await pg_pool.fetchval(
                "SELECT count(*) FROM orders WHERE round_id=$1 AND status='paid'", r
            )
            == 500
        )
        assert await redis.xlen(f"fs:{{r:{r}}}:outbox") == 0
    finally:
        await asyncio.to_thread(private_kafka.stop)


async def _count_is(pool: asyncpg.Pool, round_id: str, n: int) -> bool:
    return await order_count(pool, round_id) == n
