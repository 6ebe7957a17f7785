"""Reading back what the relay published: the records of the orders topic, from its start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

from flashsale.core.settings import Settings
from flashsale.core.topics import Topics


async def orders_records(
    settings: Settings,
    done: Callable[[list[Any]], bool],
    keep: Callable[[Any], bool] = lambda r: True,
    within: float = 30.0,
) -> list[Any]:
    """The orders topic's records that ``keep`` accepts (the session's topic also holds other
    tests' events), read until ``done`` says they are all in (``within`` seconds at most)."""
    consumer = AIOKafkaConsumer(
        Topics(settings.topic_prefix).orders,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got: list[Any] = []
    try:
        async with asyncio.timeout(within):
            while not done(got):
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    got += [r for r in records if keep(r)]
    finally:
        await consumer.stop()
    return got
