"""Kafka consumer groups as the broker's group coordinator reports them."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient

from flashsale.core.settings import Settings


async def member_client_ids(settings: Settings, group: str, tries: int = 100) -> list[str]:
    """The client ids of ``group``'s members, once it has any (polled every 0.1 s, ``tries``
    times); ``[]`` if none joined by then."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        for _ in range(tries):
            [response] = await admin.describe_consumer_groups([group])
            members = response.to_object()["groups"][0]["members"]
            if members:
                return sorted(m["client_id"] for m in members)
            await asyncio.sleep(0.1)
        return []
    finally:
        await admin.close()
