"""The simulated payment provider and the verification of its signed callbacks.

The provider (:class:`PaymentProvider`) starts a payment for an order and later "confirms" it
by producing what a real provider would POST to our callback endpoint: a JSON body and a
signature header in the Stripe style::

    Flashsale-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

:func:`verify_callback` checks, in order: the header parses, some ``v1`` matches (constant-time;
several ``v1`` are allowed for secret rotation), the timestamp is within ``tolerance`` seconds
of now, the body is a well-formed event (short ASCII ids, a 3-letter currency, bounded
integers), and — with ``SET NX GET`` of a mark unique to the call, so that a command the
client re-sends after a lost reply recognises its own mark — that this payment's outcome has
not been accepted before. If applying an accepted event fails, call
:func:`forget_callback` so the provider's retry is accepted.

Amounts are integers in fen (1/100 yuan); currency is CNY.

Exceptions::

    Exception
    └── PaymentError            code="payment_error"
        ├── InvalidPayment      "invalid_request" (.field: order_id | amount)
        └── CallbackError       (refused callback)
            ├── InvalidSignature    "invalid_signature"
            ├── StaleCallback       "stale_callback"
            ├── ReplayedCallback    "replayed_callback"
            └── InvalidCallback     "invalid_callback"  (signed but not a valid event)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import orjson
import redis.asyncio as aioredis

from flashsale.core.errors import FlashsaleError
from flashsale.core.settings import SecretLike, key_bytes

SIGNATURE_HEADER = "Flashsale-Signature"
EVENT_TYPES = ("payment.succeeded", "payment.failed")
DEFAULT_TOLERANCE = 300
_SEEN_PREFIX = "fs:pay:seen:"
_FORGET = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

MAX_AMOUNT = 2**53 - 1  # exact in every JSON reader
# A signed event is still checked field by field: its ids end up in Redis, events, PostgreSQL
# and log lines, so they are short printable ASCII (ASCII-only patterns, whole-string matches).
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,100}", re.ASCII)
_FIELDS: dict[str, re.Pattern[str]] = {
    "id": _ID,
    "type": re.compile("|".join(re.escape(t) for t in EVENT_TYPES)),
    "payment_id": _ID,
    "order_id": _ID,
    "currency": re.compile(r"[A-Z]{3}", re.ASCII),
}


class PaymentError(FlashsaleError):
    code = "payment_error"


class InvalidPayment(PaymentError):
    code = "invalid_request"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class CallbackError(PaymentError):
    """A callback that must not be applied."""


class InvalidSignature(CallbackError):
    code = "invalid_signature"


class StaleCallback(CallbackError):
    code = "stale_callback"


class ReplayedCallback(CallbackError):
    code = "replayed_callback"


class InvalidCallback(CallbackError):
    code = "invalid_callback"


@dataclass(frozen=True, slots=True)
class Charge:
    """A payment started at the provider for an order (its ``payment_id`` is the provider's);
    what the order's payment state is lives in :class:`checkout.flow.Payment`."""

    payment_id: str
    order_id: str
    amount: int
    currency: str = "CNY"


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """A verified callback's content."""

    id: str
    type: str
    payment_id: str
    order_id: str
    amount: int
    currency: str
    created: int
    mark: str = field(default="", compare=False, repr=False)  # this acceptance's replay mark

    @property
    def succeeded(self) -> bool:
        return self.type == "payment.succeeded"


@dataclass(frozen=True, slots=True)
class Callback:
    """What the provider POSTs: the exact body bytes and the signature header value."""

    body: bytes
    signature: str

    @property
    def headers(self) -> dict[str, str]:
        return {SIGNATURE_HEADER: self.signature, "Content-Type": "application/json"}


def _key(secret: SecretLike) -> bytes:
    return key_bytes(secret, "payment secret")


def _mac(key: bytes, timestamp: int, body: bytes) -> str:
    return hmac.digest(key, b"%d." % timestamp + body, hashlib.sha256).hex()


def sign(secret: SecretLike, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={_mac(_key(secret), timestamp, body)}"


class PaymentProvider:
    """The simulated provider: :meth:`start`, later :meth:`confirm`; :meth:`pay_now` for demos
    and load tests (confirms at once). ``clock`` sets the callbacks' timestamps."""

    __slots__ = ("_clock", "_key")

    def __init__(self, secret: SecretLike, *, clock: Callable[[], float] = time.time) -> None:
        self._key = _key(secret)
        self._clock = clock

    def __repr__(self) -> str:
        return "PaymentProvider(secret='**********')"

    def start(self, order_id: str, amount: int) -> Charge:
        if not isinstance(order_id, str) or not order_id:
            raise InvalidPayment("order_id", "order_id must be a non-empty string")
        if type(amount) is not int or amount <= 0:
            raise InvalidPayment("amount", "amount must be a positive integer of fen")
        return Charge(f"pay_{secrets.token_hex(12)}", order_id, amount)

    def confirm(self, payment: Charge, *, succeeded: bool = True) -> Callback:
        """The signed callback announcing the payment's outcome."""
        now = int(self._clock())
        event = {
            "id": f"evt_{secrets.token_hex(12)}",
            "type": "payment.succeeded" if succeeded else "payment.failed",
            "payment_id": payment.payment_id,
            "order_id": payment.order_id,
            "amount": payment.amount,
            "currency": payment.currency,
            "created": now,
        }
        body = orjson.dumps(event)
        return Callback(body, f"t={now},v1={_mac(self._key, now, body)}")

    def pay_now(self, order_id: str, amount: int) -> tuple[Charge, Callback]:
        """Demo mode: start and confirm at once; post the callback or apply it directly."""
        payment = self.start(order_id, amount)
        return payment, self.confirm(payment)


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    if not isinstance(header, str) or len(header) > 1024:
        raise InvalidSignature("missing or oversized signature header")
    if not header.isascii():  # hmac.compare_digest raises TypeError on non-ASCII str
        raise InvalidSignature("signature header must be ASCII")
    for part in header.split(","):
        name, eq, value = part.strip().partition("=")
        if not eq:
            continue
        if name == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidSignature("signature header needs t=<timestamp> and v1=<signature>")
    return timestamp, signatures


def _event(body: bytes) -> PaymentEvent:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidCallback("callback body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidCallback("callback body is not an object")
    strings = ("id", "type", "payment_id", "order_id", "currency")
    if (
        not all(isinstance(data.get(k), str) and _FIELDS[k].fullmatch(data[k]) for k in strings)
        or type(data.get("amount")) is not int
        or not 0 <= data["amount"] <= MAX_AMOUNT
        or type(data.get("created")) is not int
        or not 0 <= data["created"] <= MAX_AMOUNT
    ):
        raise InvalidCallback("callback body is not a payment event")
    return PaymentEvent(**{k: data[k] for k in (*strings, "amount", "created")})


def _seen_key(event: PaymentEvent) -> str:
    return f"{_SEEN_PREFIX}{event.payment_id}"


async def verify_callback(
    secret: SecretLike,
    body: bytes,
    signature_header: str,
    redis: aioredis.Redis,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> PaymentEvent:
    """The event of an authentic, fresh, first-seen callback, or a :class:`CallbackError`.

    Each payment's outcome is accepted once: the replay mark lives ``2 * tolerance + 60`` s,
    longer than any callback can stay fresh (timestamps are checked both ways)."""
    timestamp, signatures = _parse_header(signature_header)
    expected = _mac(_key(secret), timestamp, bytes(body))
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise InvalidSignature("callback signature does not match")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise StaleCallback("callback timestamp outside the tolerance")
    event = _event(body)
    # The mark is unique to this call: if the client re-sends the SET after losing its reply
    # (redis_client retries on a dropped connection), GET returns our own mark and the
    # callback is still ours, not a replay.
    mark = f"{event.id}:{secrets.token_hex(8)}"
    earlier = await redis.set(_seen_key(event), mark, nx=True, get=True, ex=2 * tolerance + 60)
    if isinstance(earlier, bytes | str) and _text(earlier) != mark:
        raise ReplayedCallback("this payment's callback was already accepted")
    return replace(event, mark=mark)


async def forget_callback(redis: aioredis.Redis, event: PaymentEvent) -> None:
    """Undo the replay mark of an event we failed to apply, so the provider's retry is taken."""
    await redis.eval(_FORGET, 1, _seen_key(event), event.mark or event.id)  # type: ignore[misc]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
