"""A crowd of simulated shoppers released at a round's opening second.

Most shoppers buy once and pay; some let the hold expire; some pick a phone number; some retry
with the same Idempotency-Key as if the first answer was lost (the retry must return the same
order); transport failures and 503s are retried with the same key. Every answer is counted by
its code, and reservation latencies are kept for percentiles.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from checkout import idnumber
from flashsale.core.retry import Backoff
from flashsale.core.settings import Secret
from flashsale.demo.http1 import Pool, Reply
from flashsale.front import tokens

_RETRY = Backoff(attempts=4, first=0.05, cap=0.4)  # a request retried with its key
ADDRESSES = (
    "北京市朝阳区建国路 88 号",
    "上海市浦东新区世纪大道 100 号",
    "广州市天河区体育西路 1 号",
    "深圳市南山区科技园 2 号",
    "成都市武侯区人民南路 4 段 9 号",
)
NAMES = ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强")


@dataclass(frozen=True, slots=True)
class Shopper:
    token: str
    id_number: str
    name: str
    address: str
    channel: str


@dataclass(frozen=True)
class Behaviour:
    pay: float = 0.85  # share of successful shoppers who pay; the rest let the hold expire
    retry_same_key: float = 0.05  # pretend the answer was lost and send the same request again
    choose_number: float = 0.10  # pick a phone number from the round's pool
    channels: tuple[tuple[str, float], ...] = (("web", 0.55), ("mobile", 0.35), ("sms", 0.10))


@dataclass
class CrowdStats:
    started_at: float = 0.0
    answers: Counter[str] = field(default_factory=Counter)  # code → count ("reserved" on 201)
    reserved: int = 0
    paid: int = 0
    left_to_expire: int = 0
    replays_same_order: int = 0
    replays_wrong: int = 0  # must stay 0: a retry was answered, but not with the same order
    replays_unanswered: int = 0  # the retry got no answer (5xx or transport errors throughout)
    transport_errors: int = 0
    server_errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    reserved_per_second: Counter[int] = field(default_factory=Counter)
    last_reserved_at: float = 0.0

    def percentile(self, p: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def mint(secret: Secret, count: int, seed: int, channels: Behaviour = Behaviour()) -> list[Shopper]:
    """Distinct buyers with distinct valid (generated) ID numbers."""
    rng = random.Random(seed)
    seen: set[str] = set()
    shoppers: list[Shopper] = []
    names = [c for c, _ in channels.channels]
    weights = [w for _, w in channels.channels]
    while len(shoppers) < count:
        idn = idnumber.generate(rng)
        if idn in seen:
            continue
        seen.add(idn)
        buyer = f"demo-{seed}-{len(shoppers)}"
        shoppers.append(
            Shopper(
                tokens.issue(secret, buyer, 3 * 3600),
                idn,
                rng.choice(NAMES),
                rng.choice(ADDRESSES),
                rng.choices(names, weights)[0],
            )
        )
    return shoppers


class Crowd:
    def __init__(
        self,
        pool: Pool,
        round_id: str,
        agreement_version: str,
        behaviour: Behaviour = Behaviour(),
        numbers: list[str] | None = None,
        seed: int = 7,
    ) -> None:
        self.pool = pool
        self.round_id = round_id
        self.agreement = agreement_version
        self.behaviour = behaviour
        self.numbers = numbers or []
        self.rng = random.Random(seed)
        self.stats = CrowdStats()

    async def _send(self, shopper: Shopper, key: str, body: dict[str, object]) -> Reply | None:
        """POST a reservation; transport errors and 503 are retried with the same key."""
        for attempt in range(4):
            began = time.perf_counter()
            try:
                reply = await self.pool.request(
                    "POST",
                    f"/api/rounds/{self.round_id}/orders",
                    {"Authorization": f"Bearer {shopper.token}", "Idempotency-Key": key},
                    body,
                )
            except (OSError, asyncio.IncompleteReadError, ConnectionError):
                self.stats.transport_errors += 1
                await asyncio.sleep(_RETRY.delay(attempt + 1))
                continue
            self.stats.latencies_ms.append((time.perf_counter() - began) * 1000)
            if reply.status >= 500:
                self.stats.server_errors += 1
                await asyncio.sleep(_RETRY.delay(attempt + 1))
                continue
            return reply
        return None

    async def shop(self, shopper: Shopper, index: int) -> None:
        b = self.behaviour
        body: dict[str, object] = {
            "quantity": 1,
            "real_name": shopper.name,
            "id_number": shopper.id_number,
            "address": shopper.address,
            "agreement_version": self.agreement,
            "channel": shopper.channel,
        }
        if self.numbers and self.rng.random() < b.choose_number:
            body["number"] = self.rng.choice(self.numbers)
        key = f"crowd-{index}-1"
        reply = await self._send(shopper, key, body)
        if reply is not None and reply.status == 409 and "number" in body:
            code = reply.json()["error"]["code"]
            if code == "number_taken":  # someone was faster: take any number instead
                self.stats.answers["number_taken"] += 1
                body.pop("number")
                key = f"crowd-{index}-2"
                reply = await self._send(shopper, key, body)
        if reply is None:
            return
        if reply.status != 201:
            self.stats.answers[reply.json()["error"]["code"]] += 1
            return
        order = reply.json()
        now = time.monotonic()
        self.stats.answers["reserved"] += 1
        self.stats.reserved += 1
        self.stats.reserved_per_second[int(now - self.stats.started_at)] += 1
        self.stats.last_reserved_at = now
        if self.rng.random() < b.retry_same_key:
            again = await self._send(shopper, key, body)
            if again is None:  # the server never answered: nothing was said about the order
                self.stats.replays_unanswered += 1
            elif again.status == 201 and again.json()["order_id"] == order["order_id"]:
                self.stats.replays_same_order += 1
            else:
                self.stats.replays_wrong += 1
        if self.rng.random() >= b.pay:
            self.stats.left_to_expire += 1
            return
        paid = await self._pay(shopper, order["order_id"])
        if paid is not None and paid.status == 200 and paid.json()["status"] == "paid":
            self.stats.paid += 1
        else:
            self.stats.answers[f"pay_{paid.status if paid else 'failed'}"] += 1

    async def _pay(self, shopper: Shopper, order_id: str) -> Reply | None:
        """Pay at once (demo provider); 5xx and transport errors are retried like a person
        pressing "pay" again — safe: a paid order answers "paid" without paying twice."""
        for attempt in range(4):
            try:
                reply = await self.pool.request(
                    "POST",
                    f"/api/orders/{order_id}/pay",
                    {"Authorization": f"Bearer {shopper.token}"},
                    {"instant": True},
                )
            except (OSError, asyncio.IncompleteReadError, ConnectionError):
                self.stats.transport_errors += 1
            else:
                if reply.status < 500:
                    return reply
                self.stats.server_errors += 1
            await asyncio.sleep(_RETRY.delay(attempt + 1))
        return None

    async def run(
        self,
        shoppers: list[Shopper],
        opens_at: float,
        concurrency: int,
        stop: asyncio.Event | None = None,
    ) -> CrowdStats:
        """Release everyone at ``opens_at`` (time.time()); at most ``concurrency`` in flight."""
        await asyncio.sleep(max(0.0, opens_at - time.time()))
        self.stats.started_at = time.monotonic()
        queue = iter(enumerate(shoppers))

        async def worker() -> None:
            for i, shopper in queue:  # one shared iterator: each shopper shops once
                if stop is not None and stop.is_set():
                    return
                await self.shop(shopper, i)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return self.stats
