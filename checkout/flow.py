"""The buy flow as a plain async API: reserve, pay, cancel, apply a payment callback, show an order.

:class:`Checkout` is what the HTTP handlers (``flashsale.front.routes.orders``), the demo and
tests call; nothing here knows HTTP. It protects the shopper's PII before anything is stored,
asks :class:`inventory.Inventory` for the atomic reservation, starts payments with the
(simulated) provider — whose signed callback it later applies itself, a moment after
:meth:`Checkout.pay` — and, given ``history`` (a PostgreSQL pool, opened lazily), answers for
orders whose round was archived (:mod:`checkout.archived`).

The answers are msgspec Structs: what the API sends, and the source of its OpenAPI schemas.

Exceptions::

    Exception
    └── CheckoutError               .code
        ├── ReservationRefused      the refusal's answer code (.refusal, .replay)
        ├── NoSuchOrder             "not_found"  (also another buyer's order)
        ├── NotPayable              "order_not_payable"
        └── HistoryUnavailable      "unavailable" (PostgreSQL is needed and unreachable)

Payment callbacks refuse with :class:`checkout.payments.CallbackError`; Redis trouble is an
:class:`inventory.InventoryError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, NamedTuple

import asyncpg
import msgspec
import redis.asyncio as aioredis

from checkout import archived, payments, pii
from checkout.purchase import BuyRequest
from flashsale.core.settings import Secret
from inventory import Inventory, InventoryError, ReserveRequest, ReserveResult
from inventory.refusals import Refusal, refusal

log = logging.getLogger(__name__)

#: Lazily opens (or returns) the PostgreSQL pool; None while PostgreSQL is unreachable.
History = Callable[[], Awaitable[asyncpg.Pool | None]]
CALLBACK_DELAY = 0.2  # seconds the simulated provider takes to confirm
PENDING = "pending"
#: What a shopper never sees of their order.
HIDDEN = frozenset({"buyer_id", "id_hash", "pii", "fingerprint", "idempotency_key"})


class CheckoutError(Exception):
    code = "checkout_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ReservationRefused(CheckoutError):
    """The reservation was refused; ``refusal`` is its row of :mod:`inventory.refusals` (None
    for a code the table does not know), ``replay`` whether it is a stored earlier outcome."""

    def __init__(self, code: str | None, *, replay: bool = False) -> None:
        self.refusal: Refusal | None = refusal(code or "")
        super().__init__(self.refusal.message if self.refusal else "refused")
        self.code = self.refusal.answer if self.refusal else "invalid_request"
        self.replay = replay


class NoSuchOrder(CheckoutError):
    code = "not_found"

    def __init__(self) -> None:
        super().__init__("no such order")


class NotPayable(CheckoutError):
    code = "order_not_payable"


class HistoryUnavailable(CheckoutError):
    code = "unavailable"


class AmountDue(msgspec.Struct, frozen=True):
    price_fen: Annotated[int, msgspec.Meta(description="unit price x quantity (fen)")]
    surcharge_fen: Annotated[int, msgspec.Meta(description="chosen number's surcharge (fen)")]
    total_fen: Annotated[
        int,
        msgspec.Meta(
            description="price_fen + surcharge_fen: what pay charges; a payment of any other "
            "amount is not applied and is recorded for refund"
        ),
    ]


class Reservation(msgspec.Struct, frozen=True):
    """A reserved order: pay before ``pay_before``."""

    order_id: str
    status: Literal["reserved"]
    quantity: int
    number: str | None
    pay_before: Annotated[int, msgspec.Meta(description="ms since the epoch")]
    offer: Annotated[
        dict[str, Any] | None, msgspec.Meta(description="the offer snapshot kept with the order")
    ]
    # price_fen (unit price x quantity) + surcharge_fen (chosen number) = total_fen: the amount
    # pay charges and the payment callback must carry
    amount_due: AmountDue | None


class Reserved(NamedTuple):
    reservation: Reservation
    replay: bool  # the stored outcome of an earlier request with this Idempotency-Key


class Payment(msgspec.Struct, frozen=True):
    """A payment's state for its order: started (``pending``), applied, failed or refused."""

    order_id: str
    status: str | None
    payment_id: str
    late: Annotated[
        bool | msgspec.UnsetType, msgspec.Meta(description="paid after the hold expired")
    ] = msgspec.UNSET
    payment: Annotated[
        Literal["failed", "refund_required"] | msgspec.UnsetType,
        msgspec.Meta(description="refund_required: this payment is not kept"),
    ] = msgspec.UNSET
    refund_reason: str | msgspec.UnsetType = msgspec.UNSET


def round_of(order_id: str) -> str:
    """The round of an order id (``<round>-<seq>``), or :class:`NoSuchOrder`."""
    round_id, sep, seq = order_id.rpartition("-")
    if not sep or not round_id or not (seq.isascii() and seq.isdigit()):
        raise NoSuchOrder
    return round_id


def public_order(order: dict[str, Any]) -> dict[str, Any]:
    """What a shopper sees of their order: no hashes, no ciphertexts."""
    return {k: v for k, v in order.items() if k not in HIDDEN}


def amount_due(order: dict[str, Any]) -> int:
    """Fen to pay: the total the reserve script fixed for the order (the snapshot's unit price
    times the quantity plus the chosen number's surcharge), exactly what the shopper was shown."""
    total = (order.get("amount_due") or {}).get("total_fen")
    if type(total) is not int or total <= 0:
        raise NotPayable("this order has no price to pay")
    return total


def _reservation(result: ReserveResult, buy: BuyRequest) -> Reservation:
    amount = result.amount
    return Reservation(
        order_id=result.order_id or "",
        status="reserved",
        quantity=buy.quantity,
        number=buy.number,
        pay_before=result.pay_before_ms or 0,
        offer=result.offer,
        amount_due=AmountDue(amount.price_fen, amount.surcharge_fen, amount.total_fen)
        if amount
        else None,
    )


class Checkout:
    """The buy flow of one process. ``aclose()`` lets scheduled callbacks finish (bounded)."""

    def __init__(
        self,
        inventory: Inventory,
        redis: aioredis.Redis,
        *,
        pii_keys: pii.PiiKeys,
        payment_secret: Secret,
        history: History | None = None,
        callback_delay: float = CALLBACK_DELAY,
    ) -> None:
        self.inventory = inventory
        self._redis = redis
        self._pii_keys = pii_keys
        self._secret = payment_secret
        self.provider = payments.PaymentProvider(payment_secret)
        self._history = history
        self._callback_delay = callback_delay
        self._pending: set[asyncio.Task[None]] = set()

    # -- reserve -------------------------------------------------------------------------

    def known_sold_out(self, round_id: str) -> bool:
        """True while this worker knows the round sold out (a dict look-up: call it before
        awaiting :meth:`sold_out`, which only then can be true)."""
        return self.inventory.sold_out_hint(round_id)

    async def sold_out(self, round_id: str, buyer_id: str, idempotency_key: str) -> bool:
        """True when "sold out" is the definitive answer (no body to read, no script to run;
        the worker's sold-out knowledge, :mod:`inventory._soldout`)."""
        return await self.inventory.answer_sold_out(round_id, buyer_id, idempotency_key)

    def reserve_request(
        self, round_id: str, buyer_id: str, idempotency_key: str, buy: BuyRequest
    ) -> ReserveRequest:
        """What the inventory is asked for ``buy``: its PII protected (the ID number hashed
        for the limits, masked and encrypted for the order), never the raw number."""
        protected = pii.protect(buy.id_number, self._pii_keys)
        return ReserveRequest(
            round_id=round_id,
            buyer_id=buyer_id,
            id_hash=protected.hash,
            quantity=buy.quantity,
            idempotency_key=idempotency_key,
            channel=buy.channel,
            agreement_version=buy.agreement_version,
            number=buy.number,
            pii={
                "real_name": buy.real_name,
                "address": buy.address,
                "id_masked": protected.masked,
                "id_encrypted": protected.encrypted,
            },
        )

    async def reserve(
        self, round_id: str, buyer_id: str, idempotency_key: str, buy: BuyRequest
    ) -> Reserved:
        """Reserve ``buy`` for the buyer (``buy`` as :meth:`BuyRequest.checked` returns it), or
        :class:`ReservationRefused`. The same Idempotency-Key gets the same outcome."""
        result = await self.inventory.reserve(
            self.reserve_request(round_id, buyer_id, idempotency_key, buy)
        )
        if not result.ok:
            raise ReservationRefused(result.code, replay=result.replay)
        return Reserved(_reservation(result, buy), result.replay)

    # -- orders --------------------------------------------------------------------------

    async def order(
        self, buyer_id: str, order_id: str, *, include_archived: bool = False
    ) -> dict[str, Any]:
        """The buyer's own order (with ``include_archived`` also one whose round left Redis),
        or :class:`NoSuchOrder`: another buyer's order is indistinguishable from a missing one."""
        found = await self.inventory.order(round_of(order_id), order_id)
        if found is None and include_archived:
            pool = await self._pool("order history")
            try:
                found = await archived.archived_order(pool, order_id)
            except (asyncpg.PostgresError, OSError) as exc:
                raise HistoryUnavailable(_unavailable("order history")) from exc
        if found is None or found.get("buyer_id") != buyer_id:
            raise NoSuchOrder
        return found

    async def cancel(self, buyer_id: str, order_id: str) -> dict[str, Any]:
        """Release an unpaid reservation (its units return to stock): the order as it is now."""
        order = await self.order(buyer_id, order_id)
        if order["status"] != "reserved":
            raise NotPayable(f"order is {order['status']}, not reserved")
        round_id = round_of(order_id)
        await self.inventory.release(round_id, order_id, "cancelled")
        refreshed = await self.inventory.order(round_id, order_id)
        return public_order(refreshed or order)

    # -- payments ------------------------------------------------------------------------

    async def pay(self, buyer_id: str, order_id: str, *, instant: bool = False) -> Payment:
        """Start paying the buyer's order: :meth:`pay_for` of :meth:`order`."""
        return await self.pay_for(await self.order(buyer_id, order_id), instant=instant)

    async def pay_for(self, order: dict[str, Any], *, instant: bool = False) -> Payment:
        """Start paying ``order`` (as :meth:`order` returned it) its amount due. ``instant``
        (demos, load tests) has the simulated provider confirm at once; otherwise its signed
        callback is applied a moment later and the answer is ``pending``. An order already paid
        answers its payment again."""
        order_id = order["order_id"]
        if order["status"] not in ("reserved", "expired", "cancelled"):
            if order["status"] == "paid":
                return Payment(order_id, "paid", order["payment_id"])
            raise NotPayable(f"order is {order['status']}")
        payment, callback = self.provider.pay_now(order_id, amount_due(order))
        if instant:
            return await self.apply_callback(callback.body, callback.signature)
        task = asyncio.create_task(self._deliver(callback))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return Payment(order_id, PENDING, payment.payment_id)

    async def _deliver(self, callback: payments.Callback) -> None:
        """The simulated provider posts its signed callback a moment later."""
        await asyncio.sleep(self._callback_delay)
        try:
            await self.apply_callback(callback.body, callback.signature)
        except (payments.CallbackError, CheckoutError, InventoryError, aioredis.RedisError) as exc:
            log.warning("simulated payment callback not applied: %s", exc)

    async def apply_callback(self, body: bytes, signature: str) -> Payment:
        """Verify a provider callback (signature, freshness, once only) and apply it to the
        order — with ``history`` also to an order whose round was archived (a payment that is
        not the applied one becomes a refund: :mod:`checkout.archived`)."""
        event = await payments.verify_callback(self._secret, body, signature, self._redis)
        try:
            round_id = round_of(event.order_id)
            if not event.succeeded:
                order = await self.inventory.order(round_id, event.order_id)
                status = order["status"] if order else "unknown"
                return Payment(event.order_id, status, event.payment_id, payment="failed")
            result = await self.inventory.confirm(
                round_id, event.order_id, event.payment_id, event.amount
            )
        except BaseException:
            await payments.forget_callback(self._redis, event)  # let the provider's retry in
            raise
        if result.code == "unknown_order":
            try:
                answer = await self._archived_payment(event)
            except HistoryUnavailable:
                await payments.forget_callback(self._redis, event)  # PostgreSQL down: retry
                raise
            if answer is None:
                raise NoSuchOrder
            return answer
        if result.refund is not None:  # this payment is not kept: it is recorded for refund
            return Payment(
                event.order_id,
                result.status,
                event.payment_id,
                late=result.late,
                payment="refund_required",
                refund_reason=result.refund,
            )
        return Payment(event.order_id, result.status, event.payment_id, late=result.late)

    async def _archived_payment(self, event: payments.PaymentEvent) -> Payment | None:
        """The answer for a payment of an archived order, or None if it is not archived either."""
        if self._history is None:
            return None
        pool = await self._pool("payments")  # cannot tell: the provider must retry
        try:
            answer = await archived.payment_after_archive(
                pool, event.order_id, event.payment_id, event.amount
            )
        except (asyncpg.PostgresError, OSError) as exc:
            raise HistoryUnavailable(_unavailable("payments")) from exc
        return None if answer is None else msgspec.convert(answer, Payment)

    async def _pool(self, what: str) -> asyncpg.Pool:
        pool = await self._history() if self._history is not None else None
        if pool is None:
            raise HistoryUnavailable(_unavailable(what))
        return pool

    async def aclose(self, limit: float = 5.0) -> None:
        """Let scheduled callbacks finish (bounded), cancel the rest. Safe to call twice."""
        if not self._pending:
            return
        _, late = await asyncio.wait(set(self._pending), timeout=limit)
        for task in late:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*late, return_exceptions=True)


def _unavailable(what: str) -> str:
    return f"{what} is unavailable; try again shortly"
