"""The bench's naive endpoints (loadtests/baseline.py) answer like the real one: P4's
one-EVALSHA-per-request endpoint reserves through the same script, checks and refusals."""

from __future__ import annotations

import redis.asyncio as aioredis

from flashsale.core.settings import Settings
from inventory import Inventory
from loadtests.baseline import create_app
from tests.support.api import api_client, arm, body, headers, spec


async def test_naive_redis_endpoint_reserves_through_the_reserve_script(
    settings: Settings, redis: aioredis.Redis, unique: str
) -> None:
    rid = f"naive{unique}"
    await arm(settings, spec(rid, stock=1))
    url = f"/api/rounds/naive-redis/{rid}/orders"
    async with api_client(settings, create_app) as client:
        first = await client.post(url, json=body(), headers=headers(settings, "n1", "naive-k-1"))
        assert first.status_code == 201, first.text
        order_id = first.json()["order_id"]
        assert order_id == f"{rid}-1"
        late = await client.post(url, json=body(), headers=headers(settings, "n2", "naive-k-2"))
        assert (late.status_code, late.json()["error"]["code"]) == (409, "sold_out")
        unsigned = await client.post(url, json=body(), headers={"Idempotency-Key": "naive-k-3"})
        assert unsigned.status_code == 401
        bad = await client.post(url, json={"quantity": 1}, headers=headers(settings, "n3", "k-3k"))
        assert bad.status_code == 400
    order = await Inventory(redis, sold_out_ttl=0).order(rid, order_id)
    assert order is not None
    assert (order["buyer_id"], order["status"]) == ("n1", "reserved")
