"""A bucketed round through the shopper HTTP API (issue 15): the order ids name the round, so
the buyer's token, viewing, paying, cancelling and the round's page work as for any round."""

from __future__ import annotations

import asyncio

from flashsale.core.settings import Settings
from inventory.keys import ARMED_BUCKETS, bucket_space
from tests.support.api import api_client, arm, body, buyer, headers, spec

B = 4


async def test_buy_view_pay_cancel_on_a_bucketed_round(settings: Settings, unique: str) -> None:
    rid = f"bkt{unique}"
    await arm(settings, spec(rid, stock=6, buckets=B))
    async with api_client(settings) as client:
        inventory = client.app.state.fs.inventory  # type: ignore[attr-defined]
        try:

            async def attempt(i: int) -> tuple[int, str]:
                r = await client.post(
                    f"/api/rounds/{rid}/orders",
                    json=body(),
                    headers=headers(settings, f"s{i}", f"bucket-key-{i:04d}"),
                )
                assert r.status_code in (201, 409), r.text
                return r.status_code, r.json().get(
                    "order_id", r.json().get("error", {}).get("code")
                )

            answers = await asyncio.gather(*(attempt(i) for i in range(40)))
            won = {i: oid for i, (code, oid) in enumerate(answers) if code == 201}
            assert len(won) == 6  # no oversell, no undersell
            assert {oid for code, oid in answers if code == 409} == {"sold_out"}
            (first, paid_id), (second, cancel_id) = list(won.items())[:2]
            seen = await client.get(f"/api/orders/{paid_id}", headers=buyer(settings, f"s{first}"))
            assert (seen.status_code, seen.json()["status"]) == (200, "reserved")
            pay = await client.post(
                f"/api/orders/{paid_id}/pay",
                json={"instant": True},
                headers=buyer(settings, f"s{first}"),
            )
            assert (pay.status_code, pay.json()["status"]) == (200, "paid"), pay.text
            cancel = await client.post(
                f"/api/orders/{cancel_id}/cancel", headers=buyer(settings, f"s{second}")
            )
            assert (cancel.status_code, cancel.json()["status"]) == (200, "cancelled")
            stats = await inventory.stats(rid)
            assert (stats.stocked, stats.left, stats.held, stats.paid) == (6, 1, 4, 1)
            await client.app.state.fs.rounds.refresh()  # type: ignore[attr-defined]
            page = (await client.get(f"/api/rounds/{rid}")).json()
            assert page["left"] == 1
        finally:
            redis = client.app.state.fs.redis  # type: ignore[attr-defined]
            await redis.srem(ARMED_BUCKETS, *(bucket_space(rid, b) for b in range(B)))
