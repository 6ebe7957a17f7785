"""Kafka clients configured the way the pipeline needs them (no clients at import time).

Every client names its process (``client_id``: :data:`RELAY`, :data:`WRITER`, ...), so the
broker's logs, quotas and metrics tell one process from another.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from flashsale.core.settings import Settings


def writer_group(topic_prefix: str) -> str:
    """The writers' consumer group of the deployment whose topics start with ``topic_prefix``.

    A group is named after the topic prefix like the topics are, so two deployments (or two
    test sessions) on one broker never share a group: a shared group rebalances every member
    whenever any joins or leaves, and its member count spans them all. The default prefix gives
    the historical names (:data:`WRITER_GROUP`), so its committed offsets stay valid."""
    return f"{topic_prefix}-writer"


def fulfillment_group(topic_prefix: str) -> str:
    """The fulfillment workers' consumer group of that deployment (see :func:`writer_group`)."""
    return f"{topic_prefix}-fulfillment"


#: The groups of the default deployment (``FLASHSALE_TOPIC_PREFIX`` unset).
WRITER_GROUP = writer_group(Settings.topic_prefix)
FULFILLMENT_GROUP = fulfillment_group(Settings.topic_prefix)

# Client ids, one per process that talks to Kafka.
RELAY = "flashsale-relay"
WRITER = "flashsale-writer"
FULFILLMENT = "flashsale-fulfillment"
RECONCILE = "flashsale-reconcile"
PARKED_RETRY = "flashsale-parked-retry"
BENCH = "flashsale-bench"
OBSERVER = "flashsale-observer"  # lag readers (dashboard, reconcile, demo)
#: The largest message the producer sends (key + value + record overhead), 1 MiB. It stays
#: below the broker's default ``message.max.bytes`` (1 MiB + 12), so a message over it is refused
#: by the client, alone (``MessageSizeTooLargeError`` from ``send``), never as part of a batch;
#: the relay parks such an event (reason ``oversize``). An order event is a few KB.
MAX_MESSAGE_BYTES = 1024 * 1024


def make_producer(
    settings: Settings,
    *,
    client_id: str,
    linger_ms: int = 5,
    request_timeout_ms: int = 10_000,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
) -> AIOKafkaProducer:
    """Idempotent producer: acks=all, broker-side dedupe of internal retries, batched, and an
    explicit message size limit (:data:`MAX_MESSAGE_BYTES`)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=linger_ms,
        max_batch_size=256 * 1024,
        compression_type=None,
        request_timeout_ms=request_timeout_ms,
        retry_backoff_ms=200,
        max_request_size=max_message_bytes,
    )


async def started_producer(
    settings: Settings, *, client_id: str, max_message_bytes: int = MAX_MESSAGE_BYTES
) -> AIOKafkaProducer:
    """A started :func:`make_producer`; stopped again if starting fails (no leaked client)."""
    producer = make_producer(settings, client_id=client_id, max_message_bytes=max_message_bytes)
    try:
        await producer.start()
    except BaseException:
        await producer.stop()
        raise
    return producer


def make_consumer(
    settings: Settings,
    *topics: str,
    group: str,
    client_id: str,
    request_timeout_ms: int = 10_000,
) -> AIOKafkaConsumer:
    """Group member on ``topics`` with manual commits: offsets are committed after the sink
    commits."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=client_id,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_uncommitted",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        request_timeout_ms=request_timeout_ms,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=3_000,
    )
