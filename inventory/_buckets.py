"""Hot-round stock buckets: a round's stock split over B key spaces that spread over cluster nodes.

A round of B > 1 buckets keeps, under its own tag ``{r:<round>}``, the meta (with
``buckets = B``), the per-account and per-ID counters and the (buyer, Idempotency-Key) routes;
bucket b is the key space ``<round>~<b>`` (tag ``{r:<round>~<b>}``, listed in ``ARMED_BUCKETS``)
holding its share of the stock, its holds, orders, stored outcomes and outbox, armed with no
limits of its own. Order ids stay ``<round>-<number>`` with number ``n * 64 + b`` (bucket b's
n-th order), so every caller names the round and the inventory finds the bucket; events carry
the round id.

The rules:

- **Routing**: a buyer starts at bucket :func:`route` (BLAKE2b of the buyer id, stable across
  processes) and, when it is drained, moves on to the next buckets in order (:func:`visit`);
  the round answers ``sold_out`` only when every bucket did (no undersell).
- **Limits** live in the round's tag: ``lua/limits.lua`` takes a *limit token* (the units
  counted against the account and the ID, with a deadline) before a bucket's reserve, which
  carries the token and refuses it once its deadline has passed; the token is then bound to
  the order (its bucket recorded with the key's route). A token no bucket took (every bucket
  sold out, a gate) is returned and forgotten at once. A token whose process died between
  the scripts is resolved by the sweeper after its deadline (plus :data:`CLOCK_MARGIN_MS`):
  bound if a bucket holds an order for it, else returned — and since no bucket takes it any
  more, the late reservation and the return cannot both happen.
- **Idempotency**: a key with a route replays in the bucket recorded with its token (never
  another), so a key that drained over to another bucket replays there even after units came
  back to the first; while its first attempt is undecided a retry answers ``retry_later``.
- **Expiry and cancellation** return the unit to the order's bucket (``release_order``) and
  journal its token there (``K.tokdue``); the journal is given back to the round's limits
  (:meth:`Buckets.give_back`, right after a cancel and in every sweep), each taking once by
  its generation.
- **Late payment**: the token is taken again first (``retake``: the limits are checked
  again if it was returned), then ``confirm.lua`` re-reserves in the order's bucket; a
  payment that does not re-reserve gives that taking back.
- **Restock** is spread evenly over the buckets, the remainder to the lowest buckets
  (:func:`split`), once per bucket per restock id.
- Number-pool rounds are never bucketed (a number is one unit of one pool).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from inventory._batcher import Batcher
from inventory.errors import InventoryError
from inventory.keys import MAX_BUCKETS, bucket_space, outcome_field
from inventory.models import ReserveRequest, ReserveResult, with_token

if TYPE_CHECKING:
    from inventory.service import Inventory

log = logging.getLogger(__name__)

#: How long a limit token waits for its bucket (ms): the owner's bucket calls must fit in it.
TOKEN_GRACE_MS = 10_000
#: How far the round's and a bucket's clocks may differ (ms): the sweeper resolves a token only
#: this long after its deadline.
CLOCK_MARGIN_MS = 2_000
_PASSES = 20  # bounded work per sweep: up to _PASSES x limit tokens


def route(buyer_id: str, buckets: int) -> int:
    """The bucket a buyer starts at: stable across processes and runs, in ``range(buckets)``."""
    digest = hashlib.blake2b(buyer_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % buckets


def visit(start: int, buckets: int) -> list[int]:
    """The order a request tries the buckets in: its own first, then the next ones."""
    return [(start + i) % buckets for i in range(buckets)]


def split(units: int, buckets: int) -> list[int]:
    """Units per bucket: as even as possible, the remainder to the lowest buckets."""
    share, rest = divmod(units, buckets)
    return [share + (1 if b < rest else 0) for b in range(buckets)]


def bucket_of(order_id: str) -> int | None:
    """The bucket an order id of a bucketed round names (None: not an order number)."""
    _, sep, number = order_id.rpartition("-")
    if not sep or not (number.isascii() and number.isdigit()):
        return None
    return int(number) % MAX_BUCKETS


@dataclass(frozen=True, slots=True)
class _Op:
    """One item of a batched ``limits.lua`` call about one round."""

    round_id: str
    item: list[Any]


class Buckets:
    """The bucketed half of :class:`inventory.Inventory` (it owns one)."""

    def __init__(self, inventory: Inventory, max_batch: int) -> None:
        self._inv = inventory
        self._takes: Batcher[_Op, list[Any]] = Batcher(self._take_batch, max_batch)
        self._binds: Batcher[_Op, int] = Batcher(self._bind_batch, max_batch)
        self._returns: Batcher[_Op, int] = Batcher(self._return_batch, max_batch)

    async def aclose(self, drain_seconds: float) -> None:
        await self._takes.aclose(drain_seconds)
        await self._binds.aclose(drain_seconds)
        await self._returns.aclose(drain_seconds)

    async def _limits(self, round_id: str, args: dict[str, Any]) -> Any:
        return await self._inv._call("limits", round_id, args)

    async def _take_batch(self, round_id: str, ops: list[_Op]) -> list[list[Any]]:
        rows = await self._limits(round_id, {
            "op": "take", "grace_ms": TOKEN_GRACE_MS, "items": [op.item for op in ops],
        })  # fmt: skip
        return list(rows)

    async def _bind_batch(self, round_id: str, ops: list[_Op]) -> list[int]:
        await self._limits(round_id, {"op": "bind", "items": [op.item for op in ops]})
        return [1] * len(ops)

    async def _return_batch(self, round_id: str, ops: list[_Op]) -> list[int]:
        rows = await self._limits(round_id, {"op": "return", "items": [op.item for op in ops]})
        return [int(x) for x in rows]

    async def _give(self, round_id: str, items: list[list[Any]]) -> None:
        if items:
            await self._limits(round_id, {"op": "return", "items": items})

    async def _give_one(self, round_id: str, item: list[Any]) -> None:
        await self._returns.submit(_Op(round_id, item))

    # -- buying ------------------------------------------------------------------------------

    async def reserve(self, req: ReserveRequest, item: bytes, buckets: int) -> ReserveResult:
        inv = self._inv
        order = visit(route(req.buyer_id, buckets), buckets)
        # buckets this worker knows are sold out for this (buyer, key): skipped without I/O
        open_ = [
            b
            for b in order
            if not await inv.answer_sold_out(
                bucket_space(req.round_id, b), req.buyer_id, req.idempotency_key
            )
        ]
        if not open_:
            return ReserveResult(ok=False, code="sold_out", left=0)
        token = outcome_field(req.buyer_id, req.idempotency_key)  # the key's field: its token
        code, bucket, until, state = await self._takes.submit(_Op(req.round_id, [
            req.buyer_id, req.id_hash, req.quantity, token, req.fingerprint(), req.channel,
            req.agreement_version, req.number or "",
        ]))  # fmt: skip
        code, state = _s(code), _s(state)
        if code:
            return ReserveResult(ok=False, code=code, replay=state == "replay")
        if state == "bound":  # the key's first attempt reserved there: its stored outcome
            return await inv._bucket_reserve(req.round_id, int(bucket), with_token(item, token, 0))
        left = 0
        for b in open_:
            result = await inv._bucket_reserve(req.round_id, b, with_token(item, token, int(until)))
            if result.ok:
                try:
                    await self._binds.submit(_Op(req.round_id, [token, b]))
                except InventoryError as exc:  # the sweeper binds it after the deadline
                    log.warning("limit token of round %s not bound now: %s", req.round_id, exc)
                return result
            if result.code != "sold_out":  # a gate (paused, ended...) or the token ran out
                await self._give_one(req.round_id, [token, 1, 1])
                return result
            left += result.left or 0
            if result.left == 0:
                await inv._saw_sold_out(bucket_space(req.round_id, b))
        await self._give_one(req.round_id, [token, 1, 1])
        return ReserveResult(ok=False, code="sold_out", left=left)

    # -- returning ---------------------------------------------------------------------------

    async def give_back(self, round_id: str, bucket: int, count: int = 500) -> int:
        """Give the tokens of bucket ``bucket``'s released orders back to the round's limits
        (each taking once); returns how many entries were handled."""
        space = bucket_space(round_id, bucket)
        handled = 0
        for _ in range(_PASSES):
            flat = await self._inv._call("bucket_tokens", space, {"op": "due", "count": count})
            items = [[_s(flat[i]), int(flat[i + 1])] for i in range(0, len(flat), 2)]
            if not items:
                break
            await self._give(round_id, [[t, g, 0] for t, g in items])
            await self._inv._call("bucket_tokens", space, {"op": "done", "items": items})
            handled += len(items)
        return handled

    async def resolve_expired(self, round_id: str, buckets: int, limit: int = 500) -> int:
        """Tokens still pending past their deadline (a process died between the scripts):
        bound to the order a bucket took with them, or returned. Returns how many."""
        done = 0
        for _ in range(_PASSES):
            tokens = [_s(t) for t in await self._limits(round_id, {
                "op": "expired", "margin_ms": CLOCK_MARGIN_MS, "limit": max(1, limit),
            })]  # fmt: skip
            if not tokens:
                break
            found: dict[str, tuple[int, str]] = {}
            for b in range(buckets):
                oids = await self._inv._call(
                    "bucket_tokens", bucket_space(round_id, b), {"op": "has", "tokens": tokens}
                )
                for t, oid in zip(tokens, oids, strict=True):
                    if _s(oid):
                        found.setdefault(t, (b, _s(oid)))
            binds = [[t, b] for t, (b, _) in found.items()]
            if binds:
                await self._limits(round_id, {"op": "bind", "items": binds})
            await self._give(round_id, [[t, 1, 1] for t in tokens if t not in found])
            done += len(tokens)
            if len(tokens) < limit:
                break
        return done

    async def confirm(
        self, round_id: str, order_id: str, payment_id: str, amount: int, bucket: int
    ) -> list[Any]:
        """``confirm.lua`` in the order's bucket; a late payment re-takes the token first."""
        inv = self._inv
        space = bucket_space(round_id, bucket)
        args: dict[str, Any] = {"order_id": order_id, "payment_id": payment_id, "amount": amount}
        token, gen = None, -1
        row = await inv._call("order", space, {"order_id": order_id})
        if row:
            o = orjson.loads(row[0])
            late = o["status"] in ("expired", "cancelled") and o.get("token")
            fresh = o["payment_id"] != payment_id and payment_id not in (o.get("refunds") or {})
            if late and fresh and amount == o.get("total_fen"):
                token = str(o["token"])
                gen = int(await self._limits(round_id, {"op": "retake", "token": token}))
                args["tg"] = gen
        answer = list(await inv._call("confirm", space, args))
        if token is not None and gen > 0 and not (_s(answer[0]) == "" and int(answer[2]) == 1):
            await self._give(round_id, [[token, gen, 0]])  # not re-reserved: give it back
        return answer


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
