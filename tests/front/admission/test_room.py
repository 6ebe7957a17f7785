"""The waiting room on the real Redis: shuffled pre-queue, admission rate, admission tokens."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from flashsale.core.settings import Settings
from flashsale.front import tokens
from flashsale.front.admission import Policy
from tests.support.admission import admission_client, policy_client, refresh, set_policy
from tests.support.api import arm, body, headers, spec


async def test_off_by_default(settings: Settings, unique: str) -> None:
    rid = f"wroff{unique}"
    await arm(settings, spec(rid, stock=5))
    async with admission_client(settings) as client:
        r = await client.post(f"/api/rounds/{rid}/queue", headers=headers(settings, "a", "x" * 8))
        assert r.status_code == 200
        assert r.json()["state"] == "off"
        buy = await client.post(
            f"/api/rounds/{rid}/orders", json=body(), headers=headers(settings, "a", "kof-0001")
        )
        assert buy.status_code == 201, buy.text


async def test_shuffled_pre_queue_admitted_at_the_rate(settings: Settings, unique: str) -> None:
    rid = f"wr{unique}"
    # The round starts a minute out while the 200 join (however long that takes on a loaded
    # machine), then is re-armed to start at once; at 40 per second the queue drains in 5 s,
    # well after the 200 polls.
    rate = 40
    later = spec(rid, stock=500, starts_at=datetime.now(UTC) + timedelta(minutes=1))
    entrants = [f"e{i:03d}-{unique}" for i in range(200)]
    async with policy_client(settings, Policy(room=True, rate=rate), later) as client:
        url = f"/api/rounds/{rid}/queue"
        for who in entrants:  # in this order, before the start
            r = await client.post(url, headers=headers(settings, who, "q" * 8))
            assert r.status_code == 200, r.text
            assert r.json()["state"] == "before"
            assert r.json()["position"] is None  # nothing to learn before the start
        early = await client.post(
            f"/api/rounds/{rid}/orders",
            json=body(),
            headers=headers(settings, entrants[0], "kwr-0000"),
        )
        assert early.status_code == 403
        assert early.json()["error"]["code"] == "admission_required"

        starts = datetime.now(UTC) + timedelta(seconds=0.2)
        await arm(settings, spec(rid, stock=500, starts_at=starts))  # the start moves forward
        await refresh(client)
        await asyncio.sleep(max(0.0, starts.timestamp() - time.time()) + 0.5)
        views = [
            (await client.get(url, headers=headers(settings, w, "q" * 8))).json() for w in entrants
        ]
        elapsed = time.time() - starts.timestamp()
        admitted = [v for v in views if v["state"] == "admitted"]
        # About rate/2 admitted half a second in (the polls took a little longer).
        assert rate * 0.4 <= len(admitted) <= rate * (elapsed + 0.2), (len(admitted), elapsed)
        assert all(v["token"] for v in admitted)
        queued = [v for v in views if v["state"] == "queued"]
        assert len(admitted) + len(queued) == 200
        assert all(v["position"] >= 1 and v["estimated_wait_ms"] > 0 for v in queued)
        # Positions are a random order, not the join order.
        order = sorted(range(200), key=lambda i: views[i]["position"] or 0)
        rank_of = {entrant: rank for rank, entrant in enumerate(order)}
        in_place = sum(1 for i in range(200) if rank_of[i] == i)
        assert in_place < 20, in_place
        first_half_joiners_in_first_half = sum(1 for i in range(100) if rank_of[i] < 100)
        assert 30 < first_half_joiners_in_first_half < 70
        # A late arrival joins behind everyone.
        late = await client.post(url, headers=headers(settings, f"late-{unique}", "q" * 8))
        assert late.json()["state"] == "queued"
        assert late.json()["queue_length"] == 201
        last = max(queued, key=lambda v: v["position"])
        who = entrants[views.index(last)]
        behind = await client.get(url, headers=headers(settings, who, "q" * 8))
        assert late.json()["position"] > behind.json()["position"]
        # All admitted after 200 / rate seconds.
        await asyncio.sleep(200 / rate + 0.2 - (time.time() - starts.timestamp()))
        again = await client.get(url, headers=headers(settings, entrants[-1], "q" * 8))
        assert again.json()["state"] == "admitted"


async def test_buy_needs_own_admission_token(settings: Settings, unique: str) -> None:
    rid, other = f"wrt{unique}", f"wro{unique}"
    url = f"/api/rounds/{rid}/orders"
    rounds = (spec(rid, stock=5), spec(other, stock=5))
    async with policy_client(settings, Policy(room=True, rate=1000), *rounds) as client:
        joined = await client.post(
            f"/api/rounds/{rid}/queue", headers=headers(settings, "ann", "q" * 8)
        )
        assert joined.status_code == 200
        await asyncio.sleep(0.05)
        mine = (
            await client.get(f"/api/rounds/{rid}/queue", headers=headers(settings, "ann", "q" * 8))
        ).json()
        assert mine["state"] == "admitted", mine
        secret = settings.token_secret
        forged = tokens.issue("not-the-secret", "ann", 300, typ="admission", round_id=rid)
        wrong_round = tokens.issue(secret, "ann", 300, typ="admission", round_id=other)
        someone_else = tokens.issue(secret, "bob", 300, typ="admission", round_id=rid)
        expired = tokens.issue(
            secret, "ann", 10, typ="admission", round_id=rid, now=time.time() - 60
        )
        buyer_token = tokens.issue(secret, "ann", 300)
        for i, bad in enumerate((None, forged, wrong_round, someone_else, expired, buyer_token)):
            h = headers(settings, "ann", f"kbad-{i:04d}")
            if bad:
                h["X-Admission-Token"] = bad
            r = await client.post(url, json=body(), headers=h)
            assert r.status_code == 403, (i, r.text)
            assert r.json()["error"]["code"] == "admission_required"
        ok = await client.post(
            url,
            json=body(),
            headers={**headers(settings, "ann", "kgood-001"), "X-Admission-Token": mine["token"]},
        )
        assert ok.status_code == 201, ok.text
        # Turned off again: no token needed (after the workers reload the options).
        await set_policy(settings, rid, Policy())
        await refresh(client)
        free = await client.post(url, json=body(), headers=headers(settings, "cat", "kfree-001"))
        assert free.status_code == 201, free.text


async def test_queue_of_unknown_round_and_not_joined(settings: Settings, unique: str) -> None:
    rid = f"wru{unique}"
    await set_policy(settings, rid, Policy(room=True, rate=10))  # options, but never armed
    await arm(settings, spec(f"wrk{unique}", stock=1))
    await set_policy(settings, f"wrk{unique}", Policy(room=True, rate=10))
    async with admission_client(settings) as client:
        r = await client.post(f"/api/rounds/{rid}/queue", headers=headers(settings, "a", "q" * 8))
        assert r.status_code == 404
        r = await client.get(
            f"/api/rounds/wrk{unique}/queue", headers=headers(settings, "a", "q" * 8)
        )
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
        r = await client.get(f"/api/rounds/wrk{unique}/queue")
        assert r.status_code == 401
    await set_policy(settings, rid, Policy())
