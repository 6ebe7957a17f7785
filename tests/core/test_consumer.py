"""The one consumer loop (flashsale.core.consumer): bounded backoff, fresh clients after a Kafka
or network error, stop; and every process names itself to Kafka with its own client id."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from checkout.pipeline.writer import Writer, WriterConfig
from flashsale.core import kafka
from flashsale.core.consumer import ConsumerLoop, run_loop
from flashsale.core.retry import Backoff
from flashsale.core.settings import Settings
from flashsale.core.sink import SinkFault, SinkUnavailable
from flashsale.core.topics import ensure_topics
from fulfillment.carrier import CarrierConfig, SimulatedCarrier
from fulfillment.worker import FulfillConfig, Fulfiller
from tests.support.groups import member_client_ids

log = logging.getLogger("test.consumer")
FAST = Backoff(attempts=4, first=0.001, cap=0.002)


class Steps:
    """A step that raises the given errors in turn, then stops the loop."""

    def __init__(self, stop: asyncio.Event, *errors: BaseException) -> None:
        self.stop = stop
        self.errors = list(errors)
        self.calls = 0
        self.resets = 0

    async def step(self) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        self.stop.set()

    async def reset(self) -> None:
        self.resets += 1


async def _run(steps: Steps, **kw: Any) -> None:
    await asyncio.wait_for(
        run_loop(
            steps.step, stop=steps.stop, backoff=FAST, log=log, what="t", reset=steps.reset, **kw
        ),
        5,
    )


async def test_outages_are_retried_and_kafka_errors_get_fresh_clients() -> None:
    stop = asyncio.Event()
    steps = Steps(stop, KafkaConnectionError(), SinkUnavailable("pg down"), OSError("net"))
    await _run(steps)
    assert steps.calls == 4  # three failures, then the step that stops
    assert steps.resets == 2  # Kafka and OS errors, not PostgreSQL being unavailable


async def test_success_resets_the_attempt_count() -> None:
    stop = asyncio.Event()
    # more failures in total than attempts, but never attempts-many in a row
    steps = Steps(stop, *(SinkUnavailable("x") for _ in range(3)))
    await _run(steps)
    assert steps.calls == 4


async def test_gives_up_after_the_attempts_in_a_row() -> None:
    stop = asyncio.Event()
    steps = Steps(stop, *(SinkUnavailable(f"{i}") for i in range(10)))
    with pytest.raises(SinkUnavailable):
        await _run(steps)
    assert steps.calls == FAST.attempts


async def test_a_fault_is_not_retried() -> None:
    stop = asyncio.Event()
    steps = Steps(stop, SinkFault("no such table"))
    with pytest.raises(SinkFault):
        await _run(steps)
    assert steps.calls == 1


async def test_stop_ends_the_loop_during_a_backoff() -> None:
    stop = asyncio.Event()
    steps = Steps(stop, *(SinkUnavailable("x") for _ in range(100)))
    slow = Backoff(attempts=100, first=30.0, cap=30.0)
    task = asyncio.create_task(
        run_loop(steps.step, stop=stop, backoff=slow, log=log, what="t", reset=steps.reset)
    )
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 2)  # not the 30 s backoff
    assert steps.calls == 1


class Owner(ConsumerLoop[list[str]]):
    """A loop owner whose steps raise the given errors in turn, then stop it."""

    what = "owner"

    def __init__(self, *errors: BaseException) -> None:
        super().__init__(FAST, log)
        self.stats = []
        self.errors = list(errors)

    async def step(self) -> None:
        self.stats.append("step")
        if self.errors:
            raise self.errors.pop(0)
        self.stop()

    async def drain(self) -> None:
        self.stats.append("drain")

    async def close(self) -> None:
        self.stats.append("close")


async def test_the_owner_runs_the_loop_then_drains_and_closes() -> None:
    owner = Owner(KafkaConnectionError())
    assert await asyncio.wait_for(owner.run(), 5) is owner.stats
    # the Kafka error closes the clients (the reset), the stop drains, close comes last
    assert owner.stats == ["step", "close", "step", "drain", "close"]


async def test_the_owner_closes_without_draining_when_the_loop_fails() -> None:
    owner = Owner(SinkFault("no such table"))
    with pytest.raises(SinkFault):
        await asyncio.wait_for(owner.run(), 5)
    assert owner.stats == ["step", "close"]


async def test_factories_take_the_process_client_id(settings: Settings) -> None:
    producer = kafka.make_producer(settings, client_id="flashsale-probe")
    consumer = kafka.make_consumer(settings, "t1", "t2", group="g", client_id="flashsale-probe2")
    try:
        assert producer.client._client_id == "flashsale-probe"
        assert consumer._client._client_id == "flashsale-probe2"
    finally:
        await producer.stop()
        await consumer.stop()
    ids = {kafka.RELAY, kafka.WRITER, kafka.FULFILLMENT, kafka.RECONCILE, kafka.PARKED_RETRY}
    assert len(ids) == 5


async def test_writer_and_fulfiller_name_themselves(
    settings: Settings, pg_pool: Any, unique: str
) -> None:
    """Before, every consumer said "flashsale-writer"; each process now has its own id."""
    s = dataclasses.replace(settings, topic_prefix=f"ids-{unique}")
    await ensure_topics(s, partitions=1)
    writer = Writer(s, pg_pool, WriterConfig(group=f"w-{unique}", poll_ms=50))
    carrier = SimulatedCarrier(pg_pool, CarrierConfig())
    fulfiller = Fulfiller(s, pg_pool, carrier, FulfillConfig(group=f"f-{unique}", batch=0))
    tasks = [asyncio.create_task(writer.run()), asyncio.create_task(fulfiller.run())]
    try:
        assert await member_client_ids(s, f"w-{unique}") == [kafka.WRITER]
        assert await member_client_ids(s, f"f-{unique}") == [kafka.FULFILLMENT]
    finally:
        writer.stop()
        fulfiller.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
