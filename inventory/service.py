"""The Python face of the round state in Redis: every call is one atomic script."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from flashsale.core.redis import REDIS_ERRORS, is_outage
from inventory._batcher import Batcher, BatchStats
from inventory._buckets import Buckets, bucket_of, split
from inventory._soldout import SoldOutKnowledge
from inventory.errors import InvalidRequest, InventoryUnavailable, RoundNotArmed, ScriptFailed
from inventory.keys import (
    ARMED_BUCKETS,
    ARMED_ROUNDS,
    MAX_BUCKETS,
    RoundKeys,
    bucket_space,
    bucket_spaces,
    outcome_field,
    split_space,
)
from inventory.models import Amount, ConfirmResult, ReserveRequest, ReserveResult, reserve_batch
from inventory.scripts import script
from inventory.spec import CHANNELS, ROUND_STATUSES, RoundSpec, RoundStats

_NUMBERS_PER_CALL = 1000


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ms(at: datetime) -> int:
    if at.tzinfo is None:
        raise InvalidRequest("datetimes must be timezone-aware", value=str(at))
    return int(at.timestamp() * 1000)


_MAX_QUANTITY = 10_000_000


def _text(value: object, *, empty: bool = False) -> bool:
    return isinstance(value, str) and (empty or value != "")


def _invalid(req: ReserveRequest) -> bool:
    """A request the reserve script must never see: wrong types, impossible values, text or
    PII that cannot be encoded. Answered ``invalid_request`` for that request alone."""
    return _wrong_types(req) or _encoded(req) is None


def _wrong_types(req: ReserveRequest) -> bool:
    q = req.quantity
    return (
        not _text(req.round_id)
        or not _text(req.buyer_id)
        or not _text(req.id_hash, empty=True)
        or not _text(req.idempotency_key)
        or not _text(req.channel)
        or not _text(req.agreement_version, empty=True)
        or not (req.number is None or _text(req.number))
        or not isinstance(q, int)
        or isinstance(q, bool)
        or not 1 <= q <= _MAX_QUANTITY
        or (req.number is not None and q != 1)
        or not isinstance(req.pii, dict)
    )


def _encoded(req: ReserveRequest) -> bytes | None:
    """The request as one JSON item of the script's batch, or None when it cannot be encoded
    (a lone surrogate in a string, a PII value orjson cannot serialise...)."""
    try:
        return req.script_item()
    except (TypeError, orjson.JSONEncodeError):
        return None


@dataclass(frozen=True, slots=True)
class _Queued:
    """A reservation waiting for its batch: the round and its encoded script item."""

    round_id: str
    item: bytes


class Inventory:
    """Round state in Redis: arm, reserve (batched), confirm, release, sweep, stats.

    ``reserve`` calls of one event loop are coalesced per round (see ``inventory._batcher``).
    Every request is validated in Python before it joins a batch (``invalid_request`` for that
    request only), and the script checks each item's types again before writing anything.

    One rule for what an Idempotency-Key remembers: a success and a refusal about this buyer
    or number (``limit_reached``, ``number_*``) are the key's stored outcome and are replayed;
    ``sold_out`` is, like ``paused`` or ``not_started``, a transient refusal that is never
    stored, so a retry with the same key is evaluated again (units come back when holds
    expire or are cancelled, or on a restock).

    After a round answers ``sold_out`` with nothing left, the worker takes the round's
    sold-out lease of ``sold_out_ttl`` seconds (extended while in use and still sold out) and
    reads which (buyer, Idempotency-Key) pairs have a stored outcome: then a reserve for a new
    pair is answered ``sold_out`` with no I/O — exactly what the script would answer — and a
    stored one (a retried success) still runs the script for its replay
    (:mod:`inventory._soldout`). ``sold_out_ttl=0``: every answer from the script.
    """

    def __init__(
        self, redis: aioredis.Redis, *, max_batch: int = 256, sold_out_ttl: float = 0.5
    ) -> None:
        self._redis = redis
        self._batcher: Batcher[_Queued, ReserveResult] = Batcher(self._queued_batch, max_batch)
        self._sold_out = SoldOutKnowledge(redis, sold_out_ttl) if sold_out_ttl > 0 else None
        self._bucketed = Buckets(self, max_batch)
        self._buckets: dict[str, int] = {}  # round id -> its buckets (fixed at creation)
        self._looking: dict[str, asyncio.Future[int]] = {}
        self._closed = False

    @property
    def batch_stats(self) -> BatchStats:
        return self._batcher.stats

    async def aclose(self, drain_seconds: float = 5.0) -> None:
        """Stop taking reservations and let in-flight batches finish (bounded). Idempotent."""
        self._closed = True
        await self._bucketed.aclose(drain_seconds)
        await self._batcher.aclose(drain_seconds)
        if self._sold_out is not None:
            self._sold_out.clear()

    async def __aenter__(self) -> Inventory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _call(self, name: str, round_id: str, args: Mapping[str, Any] | bytes) -> Any:
        """Run script ``name`` on key space ``round_id`` (a round, or a bucket's
        ``<round>~<b>``) with its named arguments (``A`` in Lua): a mapping, or the
        JSON object already encoded. Integers beyond 2**53 are refused (cjson decodes
        numbers as doubles)."""
        if not isinstance(args, bytes):
            try:
                args = orjson.dumps(args, option=orjson.OPT_STRICT_INTEGER)
            except orjson.JSONEncodeError as exc:
                raise InvalidRequest(f"{name}: arguments cannot be encoded: {exc}") from exc
        real, bucket = split_space(round_id)
        argv: list[str | bytes] = [round_id, args] if bucket is None else [
            round_id, args, real, str(bucket)
        ]  # fmt: skip
        try:
            return await script(name)(self._redis, RoundKeys(round_id).script_keys(), argv)
        except ResponseError as exc:
            if is_outage(exc):  # e.g. CLUSTERDOWN while the round's master restarts
                raise InventoryUnavailable(f"redis unavailable: {exc}", round_id=round_id) from exc
            raise ScriptFailed(f"{name} script failed: {exc}", round_id=round_id) from exc
        except REDIS_ERRORS as exc:
            raise InventoryUnavailable(f"redis unavailable: {exc}", round_id=round_id) from exc

    # -- arming (marketers) ------------------------------------------------------------------

    async def buckets(self, round_id: str) -> int:
        """How many stock buckets the round has (1 = not split; also for an unknown round)."""
        known = self._buckets.get(round_id)
        if known is not None:
            return known
        # concurrent callers share one look-up (a burst must not open a connection each)
        pending = self._looking.get(round_id)
        if pending is None:
            pending = asyncio.ensure_future(self._look_up_buckets(round_id))
            self._looking[round_id] = pending
            pending.add_done_callback(lambda _: self._looking.pop(round_id, None))
        return await asyncio.shield(pending)

    async def _look_up_buckets(self, round_id: str) -> int:
        try:
            raw = await self._redis.hmget(RoundKeys(round_id).meta, ["status", "buckets"])  # type: ignore[misc]
        except RedisError as exc:
            raise InventoryUnavailable(f"redis unavailable: {exc}", round_id=round_id) from exc
        n = int(raw[1] or 1)
        if raw[0] is not None:  # armed: the count never changes
            self._buckets[round_id] = n
        return n

    def _order_space(self, round_id: str, order_id: str, buckets: int) -> str:
        """The key space holding ``order_id`` of ``round_id``."""
        bucket = bucket_of(order_id) if buckets > 1 else None
        return round_id if bucket is None else bucket_space(round_id, bucket)

    async def arm(self, spec: RoundSpec) -> bool:
        """Load the round into Redis; True if newly armed. Re-arming updates meta, never stock.

        A round of ``spec.buckets`` > 1 arms each bucket with its share of the stock and no
        limits of its own, then the round's own tag (meta with ``buckets``, the limits)."""
        if not 1 <= spec.buckets <= MAX_BUCKETS:
            raise InvalidRequest(f"buckets must be 1..{MAX_BUCKETS}", buckets=spec.buckets)
        if spec.buckets > 1 and spec.number_choice:
            raise InvalidRequest("a round with number choice cannot be split into buckets")
        if spec.status not in ROUND_STATUSES:
            raise InvalidRequest(f"unknown status {spec.status!r}", status=spec.status)
        if not spec.channels or any(ch not in CHANNELS for ch in spec.channels):
            raise InvalidRequest(f"bad channels {spec.channels!r}", channels=list(spec.channels))
        if spec.stock < 0 or spec.hold_seconds < 0:
            raise InvalidRequest("stock and hold_seconds must be >= 0")
        offer = orjson.dumps(spec.offer, option=orjson.OPT_SORT_KEYS)
        version = hashlib.sha1(offer, usedforsecurity=False).hexdigest()[:16]
        args: dict[str, Any] = {
            "stock": spec.stock, "status": spec.status, "starts_ms": _ms(spec.starts_at),
            "ends_ms": _ms(spec.ends_at), "per_account_limit": spec.per_account_limit,
            "per_id_limit": spec.per_id_limit, "hold_ms": spec.hold_seconds * 1000,
            "number_choice": int(spec.number_choice), "channels": ",".join(spec.channels),
            "agreement_version": spec.agreement_version, "offer_id": spec.offer_id,
            "offer_version": version, "offer": offer.decode(),
        }  # fmt: skip
        if spec.buckets > 1:
            shares = split(spec.stock, spec.buckets)
            for b, share in enumerate(shares):
                space = bucket_space(spec.round_id, b)
                await self._call("arm", space, {
                    **args, "stock": share, "per_account_limit": 0, "per_id_limit": 0,
                })  # fmt: skip
                self._forget_sold_out(space)
            args = {**args, "stock": 0, "buckets": spec.buckets}
        new = await self._call("arm", spec.round_id, args)
        try:
            if spec.buckets > 1:
                spaces = bucket_spaces(spec.round_id, spec.buckets)
                await self._redis.sadd(ARMED_BUCKETS, *spaces)  # type: ignore[misc]
            await self._redis.sadd(ARMED_ROUNDS, spec.round_id)  # type: ignore[misc]
        except RedisError as exc:
            raise InventoryUnavailable(f"redis unavailable: {exc}") from exc
        self._forget_sold_out(spec.round_id)
        return bool(new)

    async def _spaces(self, round_id: str) -> list[str]:
        """The round's bucket key spaces, or ``[round_id]`` for a round without buckets."""
        n = await self.buckets(round_id)
        return [round_id] if n == 1 else bucket_spaces(round_id, n)

    async def set_status(self, round_id: str, status: str) -> None:
        if status not in ROUND_STATUSES:
            raise InvalidRequest(f"unknown status {status!r}", status=status)
        spaces = await self._spaces(round_id)
        for space in [*spaces, round_id] if len(spaces) > 1 else spaces:
            if await self._call("set_status", space, {"status": status}) == -1:
                raise RoundNotArmed(f"round {round_id} is not armed", round_id=round_id)
            self._forget_sold_out(space)

    async def extend(self, round_id: str, ends_at: datetime) -> None:
        spaces = await self._spaces(round_id)
        for space in [*spaces, round_id] if len(spaces) > 1 else spaces:
            if await self._call("extend", space, {"ends_ms": _ms(ends_at)}) == -1:
                raise RoundNotArmed(f"round {round_id} is not armed", round_id=round_id)

    async def restock(self, round_id: str, units: int, restock_id: str) -> int:
        """Add units once per restock_id; returns units left. A bucketed round's units are
        spread evenly over its buckets, the remainder to the lowest (each bucket once)."""
        if units < 1 or not restock_id:
            raise InvalidRequest("restock needs units >= 1 and a restock_id", units=units)
        spaces = await self._spaces(round_id)
        total = 0
        for space, share in zip(spaces, split(units, len(spaces)), strict=True):
            if share == 0:  # fewer units than buckets: nothing for this one
                share_left = await self._call("stats", space, {})
                total += int(share_left[2])
                continue
            applied, left = await self._call(
                "restock", space, {"units": share, "restock_id": restock_id}
            )
            if applied == -1:
                raise RoundNotArmed(f"round {round_id} is not armed", round_id=round_id)
            self._forget_sold_out(space)
            total += int(left)
        return total

    async def load_numbers(
        self, round_id: str, numbers: Sequence[str], surcharges: Mapping[str, int] | None = None
    ) -> int:
        """Add phone numbers to the round's choice pool; returns how many were new."""
        if await self.buckets(round_id) > 1:
            raise InvalidRequest("a bucketed round has no number choice", round_id=round_id)
        fees = surcharges or {}
        added = 0
        for start in range(0, len(numbers), _NUMBERS_PER_CALL):
            part = list(numbers[start : start + _NUMBERS_PER_CALL])
            n = await self._call("load_numbers", round_id, {
                "numbers": part, "surcharges": {x: fees[x] for x in part if x in fees},
            })  # fmt: skip
            if n == -1:
                raise RoundNotArmed(f"round {round_id} is not armed", round_id=round_id)
            added += int(n)
        return added

    # -- buying (fronts) ---------------------------------------------------------------------

    async def reserve(self, req: ReserveRequest) -> ReserveResult:
        if self._closed:
            raise InventoryUnavailable("inventory closed")
        item = None if _wrong_types(req) else _encoded(req)
        if item is None:
            return ReserveResult(ok=False, code="invalid_request")
        buckets = await self.buckets(req.round_id)
        if buckets > 1:
            return await self._bucketed.reserve(req, item, buckets)
        if self.sold_out_hint(req.round_id) and await self.answer_sold_out(
            req.round_id, req.buyer_id, req.idempotency_key
        ):
            return ReserveResult(ok=False, code="sold_out", left=0)
        result = await self._batcher.submit(_Queued(req.round_id, item))
        if result.code == "sold_out" and result.left == 0 and self._sold_out is not None:
            await self._sold_out.saw_sold_out(req.round_id)
        return result

    def sold_out_hint(self, round_id: str) -> bool:
        """True while this worker answers the round's new keys sold out itself (no I/O); for a
        bucketed round, only while it knows every bucket sold out."""
        if self._sold_out is None:
            return False
        n = self._buckets.get(round_id, 1)
        if n > 1:
            return all(self._sold_out.knows(bucket_space(round_id, b)) for b in range(n))
        return self._sold_out.knows(round_id)

    async def answer_sold_out(self, round_id: str, buyer_id: str, idempotency_key: str) -> bool:
        """True when this request is answered ``sold_out`` without running the script: the
        round's sold-out lease holds and this (buyer, key) has no stored outcome to replay
        (no I/O but, once per half lease, extending the lease); for a bucketed round, so in
        every bucket."""
        if self._sold_out is None:
            return False
        field_ = outcome_field(buyer_id, idempotency_key)
        n = self._buckets.get(round_id, 1)
        if n > 1:
            for b in range(n):
                if not await self._sold_out.answers(bucket_space(round_id, b), field_):
                    return False
            return True
        return await self._sold_out.answers(round_id, field_)

    async def _bucket_reserve(self, round_id: str, bucket: int, item: bytes) -> ReserveResult:
        """One reservation item (with its limit token) in bucket ``bucket``, batched."""
        return await self._batcher.submit(_Queued(bucket_space(round_id, bucket), item))

    async def _saw_sold_out(self, space: str) -> None:
        if self._sold_out is not None:
            await self._sold_out.saw_sold_out(space)

    def _forget_sold_out(self, round_id: str) -> None:
        if self._sold_out is not None:
            self._sold_out.forget(round_id)

    async def _reserve_batch(
        self, round_id: str, reqs: list[ReserveRequest]
    ) -> list[ReserveResult]:
        """One script call for ``reqs``, each validated and encoded here."""
        return await self._script_batch(
            round_id, [None if _wrong_types(r) else _encoded(r) for r in reqs]
        )

    async def _queued_batch(self, round_id: str, queued: list[_Queued]) -> list[ReserveResult]:
        """The batcher's call: items validated and encoded once, by :meth:`reserve`."""
        return await self._script_batch(round_id, [q.item for q in queued])

    async def _script_batch(self, round_id: str, items: list[bytes | None]) -> list[ReserveResult]:
        sent = [item for item in items if item is not None]
        rows: list[Any] = []
        offers: dict[str, dict[str, Any]] = {}
        if sent:
            rows, flat_offers = await self._call("reserve", round_id, reserve_batch(sent))
            # each snapshot decoded once per batch; the results of one batch share it
            offers = {
                _s(flat_offers[i]): orjson.loads(flat_offers[i + 1])
                for i in range(0, len(flat_offers), 2)
            }
        answers = iter(rows)
        results = []
        for item in items:
            if item is None:
                results.append(ReserveResult(ok=False, code="invalid_request"))
                continue
            code, order_id, pay_before, left, replay, version, price, fee, due = next(answers)
            ok = _s(code) == ""
            ver = _s(version)
            results.append(ReserveResult(
                ok=ok, code=None if ok else _s(code), order_id=_s(order_id) or None,
                pay_before_ms=int(pay_before) or None,
                offer=offers.get(ver),
                replay=bool(replay), left=int(left),
                amount=Amount(int(price), int(fee), int(due)) if ok else None,
            ))  # fmt: skip
        return results

    async def confirm(
        self, round_id: str, order_id: str, payment_id: str, amount: int
    ) -> ConfirmResult:
        """Record a payment (amount in minor units). Idempotent per payment_id.

        Only a payment of exactly the order's amount due is applied, once; any other payment
        (wrong amount, a second payment of a paid order) is kept with the order and announced
        for refund (``ConfirmResult.refund`` names the reason; see ``inventory/lua/confirm.lua``).
        """
        if (
            not isinstance(payment_id, str)
            or not payment_id
            or not isinstance(amount, int)
            or isinstance(amount, bool)
            or amount < 0
        ):
            raise InvalidRequest("confirm needs a payment_id and an integer amount >= 0")
        bucket = bucket_of(order_id) if await self.buckets(round_id) > 1 else None
        if bucket is not None:
            answer = await self._bucketed.confirm(round_id, order_id, payment_id, amount, bucket)
        else:
            answer = await self._call("confirm", round_id, {
                "order_id": order_id, "payment_id": payment_id, "amount": amount,
            })  # fmt: skip
        code, status, late, replay, refund = answer
        code_s = _s(code)
        return ConfirmResult(
            ok=code_s == "" or code_s == "already_paid", code=code_s or None, order_id=order_id,
            status=_s(status) or None, late=bool(late), replay=bool(replay),
            refund=_s(refund) or None,
        )  # fmt: skip

    async def release(
        self, round_id: str, order_id: str, reason: Literal["expired", "cancelled"] = "expired"
    ) -> bool:
        """Return a reserved order's units; False if it was not reserved (or is unknown)."""
        if reason not in ("expired", "cancelled"):
            raise InvalidRequest(f"unknown release reason {reason!r}")
        bucket = bucket_of(order_id) if await self.buckets(round_id) > 1 else None
        space = round_id if bucket is None else bucket_space(round_id, bucket)
        released = await self._call("release", space, {"order_id": order_id, "reason": reason})
        if bucket is not None:
            await self._bucketed.give_back(round_id, bucket)
        return bool(released == 1)

    async def sweep(self, round_id: str, limit: int = 500) -> int:
        """Release up to ``limit`` holds whose deadline has passed; returns how many.

        ``round_id`` may be a bucket's key space (``ARMED_BUCKETS``): its tokens of released
        orders then go back to the round; for a bucketed round's own tag, its limit tokens
        left pending past their deadline are resolved (bound or returned)."""
        real, bucket = split_space(round_id)
        if bucket is not None:
            n = int(await self._call("sweep", round_id, {"limit": max(1, limit)}))
            await self._bucketed.give_back(real, bucket, max(1, limit))
            return n
        buckets = await self.buckets(round_id)
        if buckets > 1:
            await self._bucketed.resolve_expired(round_id, buckets, max(1, limit))
            return 0
        return int(await self._call("sweep", round_id, {"limit": max(1, limit)}))

    # -- reading (operators, order pages, reconciliation) ------------------------------------

    async def stats(self, round_id: str) -> RoundStats:
        """The round's counters; a bucketed round's summed over its buckets (sold out at the
        last bucket's sell-out, once every bucket sold out), its status from its own tag."""
        parts = await self.bucket_stats(round_id)
        if len(parts) == 1:
            return parts[0]
        outs = [p.sold_out_at_ms for p in parts]
        status = _s((await self._call("stats", round_id, {}))[9])
        return RoundStats(
            round_id=round_id, stocked=sum(p.stocked for p in parts),
            left=sum(p.left for p in parts), held=sum(p.held for p in parts),
            paid=sum(p.paid for p in parts), released=sum(p.released for p in parts),
            refund_required=sum(p.refund_required for p in parts),
            orders=sum(p.orders for p in parts),
            sold_out_at_ms=None if None in outs else max(o or 0 for o in outs), status=status,
        )  # fmt: skip

    async def bucket_stats(self, round_id: str) -> list[RoundStats]:
        """The counters of each of the round's buckets (one item for a round without)."""
        return [await self._space_stats(round_id, s) for s in await self._spaces(round_id)]

    async def _space_stats(self, round_id: str, space: str) -> RoundStats:
        row = await self._call("stats", space, {})
        if not row[0]:
            raise RoundNotArmed(f"round {round_id} is not armed", round_id=round_id)
        _, stocked, left, held, paid, released, refunds, orders, sold_out_at, status = row
        return RoundStats(
            round_id=space, stocked=int(stocked), left=int(left), held=int(held),
            paid=int(paid), released=int(released), refund_required=int(refunds),
            orders=int(orders), sold_out_at_ms=None if int(sold_out_at) < 0 else int(sold_out_at),
            status=_s(status),
        )  # fmt: skip

    async def order(self, round_id: str, order_id: str) -> dict[str, Any] | None:
        space = self._order_space(round_id, order_id, await self.buckets(round_id))
        row = await self._call("order", space, {"order_id": order_id})
        if not row:
            return None
        o = orjson.loads(row[0])  # the order record: its fields are described in lua/_lib.lua
        paid = o["payment_id"]
        return {
            "order_id": order_id, "round_id": round_id, "status": o["status"], "seq": o["seq"],
            "buyer_id": o["buyer_id"], "id_hash": o["id_hash"], "quantity": o["quantity"],
            "number": o["number"] or None, "channel": o["channel"],
            "agreement_version": o["agreement_version"], "reserved_at_ms": o["reserved_at_ms"],
            "pay_before_ms": o["pay_before_ms"], "payment_id": paid or None,
            "amount": o["amount_paid"] if paid else None, "late": bool(o["late"]),
            "amount_due": Amount(
                o["price_fen"] * o["quantity"], o["surcharge_fen"], o["total_fen"]
            ).as_dict(),
            "refunds": dict(o.get("refunds") or {}),
            "offer": orjson.loads(row[1]),
        }  # fmt: skip

    async def describe(self, round_id: str) -> dict[str, Any] | None:
        """What a shopper sees of a round (window, limits, offer, units left), or None.

        Read in one pipelined round trip, not atomically: fine for display, never for a decision.
        """
        keys = RoundKeys(round_id)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(keys.meta)
                pipe.get(keys.stock)
                pipe.hget(keys.counters, "stocked")
                pipe.scard(keys.numbers)
                meta_raw, left, stocked, free_numbers = await pipe.execute()
                if not meta_raw:
                    return None
                meta = {_s(k): _s(v) for k, v in meta_raw.items()}
                offer = await self._redis.hget(keys.offers, meta.get("offer_version", ""))  # type: ignore[misc]
            if int(meta.get("buckets", "1")) > 1:  # the stock is in the buckets
                left, stocked = 0, 0
                for b in range(int(meta["buckets"])):
                    bk = RoundKeys(bucket_space(round_id, b))
                    async with self._redis.pipeline(transaction=False) as pipe:
                        pipe.get(bk.stock)
                        pipe.hget(bk.counters, "stocked")
                        b_left, b_stocked = await pipe.execute()
                    left, stocked = left + int(b_left or 0), stocked + int(b_stocked or 0)
        except RedisError as exc:
            raise InventoryUnavailable(f"redis unavailable: {exc}", round_id=round_id) from exc
        return {
            "round_id": round_id, "status": meta["status"], "offer_id": meta.get("offer_id"),
            "starts_at": int(meta["starts_ms"]), "ends_at": int(meta["ends_ms"]),
            "per_account_limit": int(meta["per_account_limit"]),
            "per_id_limit": int(meta["per_id_limit"]), "hold_seconds": int(meta["hold_ms"]) // 1000,
            "number_choice": meta.get("number_choice") == "1",
            "numbers_left": int(free_numbers) if meta.get("number_choice") == "1" else None,
            "channels": meta.get("channels", "").split(","),
            "agreement_version": meta.get("agreement_version"),
            "stocked": int(stocked or 0), "left": int(left or 0),
            "offer": orjson.loads(offer) if offer else {},
        }  # fmt: skip

    async def order_states(
        self, round_id: str, order_ids: Sequence[str], chunk: int = 2000
    ) -> dict[str, tuple[str, int]]:
        """(status, seq) of many orders, read in chunks of HMGET (reconciliation of a whole
        round: one round trip per ``chunk`` orders instead of one per order)."""
        n = await self.buckets(round_id)
        by_space: dict[str, list[str]] = {}
        for oid in order_ids:
            by_space.setdefault(self._order_space(round_id, oid, n), []).append(oid)
        states: dict[str, tuple[str, int]] = {}
        try:
            for space, ids in by_space.items():
                key = RoundKeys(space).orders
                for i in range(0, len(ids), chunk):
                    part = ids[i : i + chunk]
                    rows = await self._redis.hmget(key, part)  # type: ignore[misc]
                    for oid, raw in zip(part, rows, strict=True):
                        if raw is not None:
                            o = orjson.loads(raw)
                            states[oid] = (o["status"], int(o["seq"]))
        except RedisError as exc:
            raise InventoryUnavailable(f"redis unavailable: {exc}", round_id=round_id) from exc
        return states

    async def offer_versions(self, round_id: str, chunk: int = 2000) -> dict[str, str]:
        """{order_id: the offer version it keeps} of every order of the round (HSCAN; for the
        archive, which stores each order's snapshot once per version)."""
        versions: dict[str, str] = {}
        try:
            for space in await self._spaces(round_id):
                orders = RoundKeys(space).orders
                async for oid, raw in self._redis.hscan_iter(orders, count=chunk):
                    versions[_s(oid)] = str(orjson.loads(raw).get("offer_version", ""))
        except RedisError as exc:
            raise InventoryUnavailable(f"redis unavailable: {exc}", round_id=round_id) from exc
        return versions

    async def order_ids(self, round_id: str) -> set[str]:
        found: set[str] = set()
        try:
            for space in await self._spaces(round_id):
                keys = await self._redis.hkeys(RoundKeys(space).orders)  # type: ignore[misc]
                found.update(_s(k) for k in keys)
        except RedisError as exc:
            raise InventoryUnavailable(f"redis unavailable: {exc}") from exc
        return found
