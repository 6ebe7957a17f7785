"""The Python face of the round state in Redis: every call is one atomic script."""

from __future__ import annotations

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
from inventory._soldout import SoldOutKnowledge, outcome_field
from inventory.errors import InvalidRequest, InventoryUnavailable, RoundNotArmed, ScriptFailed
from inventory.keys import ARMED_ROUNDS, RoundKeys
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
        self._closed = False

    @property
    def batch_stats(self) -> BatchStats:
        return self._batcher.stats

    async def aclose(self, drain_seconds: float = 5.0) -> None:
        """Stop taking reservations and let in-flight batches finish (bounded). Idempotent."""
        self._closed = True
        await self._batcher.aclose(drain_seconds)
        if self._sold_out is not None:
            self._sold_out.clear()

    async def __aenter__(self) -> Inventory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _call(self, name: str, round_id: str, args: Mapping[str, Any] | bytes) -> Any:
        """Run script ``name`` with its named arguments (``A`` in Lua): a mapping, or the
        JSON object already encoded. Integers beyond 2**53 are refused (cjson decodes
        numbers as doubles)."""
        if not isinstance(args, bytes):
            try:
                args = orjson.dumps(args, option=orjson.OPT_STRICT_INTEGER)
            except orjson.JSONEncodeError as exc:
                raise InvalidRequest(f"{name}: arguments cannot be encoded: {exc}") from exc
        try:
            return await script(name)(
                self._redis, RoundKeys(round_id).script_keys(), [round_id, args]
            )
        except ResponseError as exc:
            if is_outage(exc):  # e.g. CLUSTERDOWN while the round's master restarts
                raise InventoryUnavailable(f"redis unavailable: {exc}", round_id=round_id) from exc
            raise ScriptFailed(f"{name} script failed: {exc}", round_id=round_id) from exc
        except REDIS_ERRORS as exc:
            raise InventoryUnavailable(f"redis unavailable: {exc}", round_id=round_id) from exc

    # -- arming (marketers) ------------------------------------------------------------------

    async def arm(self, spec: RoundSpec) -> bool:
        """Load the round into Redis; True if newly armed. Re-arming updates meta, never stock."""
        if spec.status not in ROUND_STATUSES:
            raise InvalidRequest(f"unknown status {spec.status!r}", status=spec.status)
        if not spec.channels or any(ch not in CHANNELS for ch in spec.channels):
            raise InvalidRequest(f"bad channels {spec.channels!r}", channels=list(spec.channels))
        if spec.stock < 0 or spec.hold_seconds < 0:
            raise InvalidRequest("stock and hold_seconds must be >= 0")
        offer = orjson.dumps(spec.offer, option=orjson.OPT_SORT_KEYS)
        version = hashlib.sha1(offer, usedforsecurity=False).hexdigest()[:16]
        new = await self._call("arm", spec.round_id, {
            "stock": spec.stock, "status": spec.status, "starts_ms": _ms(spec.starts_at),
            "ends_ms": _ms(spec.ends_at), "per_account_limit": spec.per_account_limit,
            "per_id_limit": spec.per_id_limit, "hold_ms": spec.hold_seconds * 1000,
            "number_choice": int(spec.number_choice), "channels": ",".join(spec.channels),
            "agreement_version": spec.agreement_version, "offer_id": spec.offer_id,
            "offer_version": version, "offer": offer.decode(),
        })  # fmt: skip
        try:
            await self._redis.sadd(ARMED_ROUNDS, spec.round_id)  # type: ignore[misc]
        except RedisError as exc:
            raise InventoryUnavailable(f"redis unavailable: {exc}") from exc
        self._forget_sold_out(spec.round_id)
        return bool(new)

    async def set_status(self, round_id: str, status: str) -> None:
        if status not in ROUND_STATUSES:
            raise InvalidRequest(f"unknown status {status!r}", status=status)
        if await self._call("set_status", round_id, {"status": status}) == -1:
            raise RoundNotArmed(f"round {round_id} is not armed", round_id=round_id)
        self._forget_sold_out(round_id)

    async def extend(self, round_id: str, ends_at: datetime) -> None:
        if await self._call("extend", round_id, {"ends_ms": _ms(ends_at)}) == -1:
            raise RoundNotArmed(f"round {round_id} is not armed", round_id=round_id)

    async def restock(self, round_id: str, units: int, restock_id: str) -> int:
        """Add units once per restock_id; returns units left."""
        if units < 1 or not restock_id:
            raise InvalidRequest("restock needs units >= 1 and a restock_id", units=units)
        applied, left = await self._call(
            "restock", round_id, {"units": units, "restock_id": restock_id}
        )
        if applied == -1:
            raise RoundNotArmed(f"round {round_id} is not armed", round_id=round_id)
        self._forget_sold_out(round_id)
        return int(left)

    async def load_numbers(
        self, round_id: str, numbers: Sequence[str], surcharges: Mapping[str, int] | None = None
    ) -> int:
        """Add phone numbers to the round's choice pool; returns how many were new."""
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
        if self.sold_out_hint(req.round_id) and await self.answer_sold_out(
            req.round_id, req.buyer_id, req.idempotency_key
        ):
            return ReserveResult(ok=False, code="sold_out", left=0)
        result = await self._batcher.submit(_Queued(req.round_id, item))
        if result.code == "sold_out" and result.left == 0 and self._sold_out is not None:
            await self._sold_out.saw_sold_out(req.round_id)
        return result

    def sold_out_hint(self, round_id: str) -> bool:
        """True while this worker answers the round's new keys sold out itself (no I/O)."""
        return self._sold_out is not None and self._sold_out.knows(round_id)

    async def answer_sold_out(self, round_id: str, buyer_id: str, idempotency_key: str) -> bool:
        """True when this request is answered ``sold_out`` without running the script: the
        round's sold-out lease holds and this (buyer, key) has no stored outcome to replay
        (no I/O but, once per half lease, extending the lease)."""
        return self._sold_out is not None and await self._sold_out.answers(
            round_id, outcome_field(buyer_id, idempotency_key)
        )

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
        code, status, late, replay, refund = await self._call(
            "confirm", round_id, {"order_id": order_id, "payment_id": payment_id, "amount": amount}
        )
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
        return await self._call("release", round_id, {"order_id": order_id, "reason": reason}) == 1

    async def sweep(self, round_id: str, limit: int = 500) -> int:
        """Release up to ``limit`` holds whose deadline has passed; returns how many."""
        return int(await self._call("sweep", round_id, {"limit": max(1, limit)}))

    # -- reading (operators, order pages, reconciliation) ------------------------------------

    async def stats(self, round_id: str) -> RoundStats:
        row = await self._call("stats", round_id, {})
        if not row[0]:
            raise RoundNotArmed(f"round {round_id} is not armed", round_id=round_id)
        _, stocked, left, held, paid, released, refunds, orders, sold_out_at, status = row
        return RoundStats(
            round_id=round_id, stocked=int(stocked), left=int(left), held=int(held),
            paid=int(paid), released=int(released), refund_required=int(refunds),
            orders=int(orders), sold_out_at_ms=None if int(sold_out_at) < 0 else int(sold_out_at),
            status=_s(status),
        )  # fmt: skip

    async def order(self, round_id: str, order_id: str) -> dict[str, Any] | None:
        row = await self._call("order", round_id, {"order_id": order_id})
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
        key = RoundKeys(round_id).orders
        states: dict[str, tuple[str, int]] = {}
        ids = list(order_ids)
        try:
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
            async for oid, raw in self._redis.hscan_iter(RoundKeys(round_id).orders, count=chunk):
                versions[_s(oid)] = str(orjson.loads(raw).get("offer_version", ""))
        except RedisError as exc:
            raise InventoryUnavailable(f"redis unavailable: {exc}", round_id=round_id) from exc
        return versions

    async def order_ids(self, round_id: str) -> set[str]:
        try:
            keys = await self._redis.hkeys(RoundKeys(round_id).orders)  # type: ignore[misc]
        except RedisError as exc:
            raise InventoryUnavailable(f"redis unavailable: {exc}") from exc
        return {_s(k) for k in keys}
