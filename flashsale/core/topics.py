"""Kafka topic names and their idempotent creation."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from flashsale.core.settings import Settings


@dataclass(frozen=True)
class Topics:
    prefix: str

    @property
    def orders(self) -> str:
        """Order lifecycle events (reserved, paid, expired, ...), key = order id."""
        return f"{self.prefix}.orders"

    @property
    def shipments(self) -> str:
        """Shipment events from fulfillment (booked, in transit, delivered, failed)."""
        return f"{self.prefix}.shipments"

    @property
    def dead_letter(self) -> str:
        """Fulfillment work that could not be done, with the reason."""
        return f"{self.prefix}.fulfillment.dlq"

    def all(self) -> list[str]:
        return [self.orders, self.shipments, self.dead_letter]


async def ensure_topics(
    settings: Settings, partitions: int | None = None, topics: Topics | None = None
) -> dict[str, int]:
    """Create missing topics; grow any with fewer partitions. Returns name → partition count."""
    topics = topics or Topics(settings.topic_prefix)
    partitions = partitions or settings.kafka_partitions
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = await _partition_counts(admin, topics.all())
        missing = [name for name in topics.all() if name not in existing]
        if missing:
            # A topic created concurrently by another process is the outcome we want.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(name, partitions, 1) for name in missing])
        grow = {
            name: NewPartitions(partitions)
            for name, count in existing.items()
            if count < partitions
        }
        if grow:
            await admin.create_partitions(grow)
        return await _partition_counts(admin, topics.all())
    finally:
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    listed = set(await admin.list_topics())
    present = [name for name in names if name in listed]
    if not present:
        return {}
    described = await admin.describe_topics(present)
    return {t["topic"]: len(t["partitions"]) for t in described if t.get("error_code", 0) == 0}
