"""Redis key names. Every key of one round shares the hash tag ``{r:<round_id>}`` so each Lua
script touches one Redis Cluster slot; cross-round keys (the armed-rounds set) are never passed
to a round's scripts.

A round split into B > 1 stock buckets (:mod:`inventory._buckets`) keeps its meta, limits and
limit tokens under its own tag, and each bucket is a key space of its own, ``RoundKeys(
bucket_space(round, b))`` → tag ``{r:<round>~<b>}``, listed in :data:`ARMED_BUCKETS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ARMED_ROUNDS = "fs:armed"  # set of round ids armed into Redis (the relay reads their outboxes)
ADMISSION_ROUNDS = "fs:admission"  # set of round ids whose admission options were ever set
ARMED_BUCKETS = "fs:armed-buckets"  # set of bucket key spaces (``<round>~<b>``) of armed rounds
# A round id: it names the round's hash tag, keys and order ids (``<round>-<n>``).
ROUND_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
BUCKET_SEP = "~"  # never in a round id: ``<round>~<b>`` names bucket b's key space
MAX_BUCKETS = 64  # a bucketed round's order number is ``n * MAX_BUCKETS + b`` (bucket b's n-th)


def bucket_space(round_id: str, bucket: int) -> str:
    """The key space (``RoundKeys`` id) of bucket ``bucket`` of a bucketed round."""
    return f"{round_id}{BUCKET_SEP}{bucket}"


def bucket_spaces(round_id: str, buckets: int) -> list[str]:
    """The key spaces of buckets 0 to ``buckets - 1`` of a round."""
    return [bucket_space(round_id, b) for b in range(buckets)]


def split_space(space: str) -> tuple[str, int | None]:
    """(round id, bucket) of a key space: ``("r1", 3)`` for ``r1~3``, ``("r1", None)`` for
    ``r1``."""
    round_id, sep, bucket = space.partition(BUCKET_SEP)
    if sep and bucket.isascii() and bucket.isdigit():
        return round_id, int(bucket)
    return space, None


@dataclass(frozen=True)
class RoundKeys:
    round_id: str

    @property
    def tag(self) -> str:
        return f"{{r:{self.round_id}}}"

    def key(self, name: str) -> str:
        return f"fs:{self.tag}:{name}"

    @property
    def outbox(self) -> str:
        """Stream of order events (order.reserved, order.paid, ...) awaiting the Kafka relay."""
        return self.key("outbox")

    # Every other key of the round. All share ``tag`` so one script touches one slot.

    @property
    def meta(self) -> str:
        """Hash: status, window (ms), limits, hold ms, number_choice, channels, agreement, offer."""
        return self.key("meta")

    @property
    def stock(self) -> str:
        """Integer: units left (not held, not sold)."""
        return self.key("stock")

    @property
    def counters(self) -> str:
        """Hash: stocked, held, paid, released, refund_required, orders (seq), sold_out_at_ms."""
        return self.key("counters")

    @property
    def accounts(self) -> str:
        """Hash buyer_id → units held or paid by that account."""
        return self.key("acct")

    @property
    def ids(self) -> str:
        """Hash id_hash → units held or paid under that national ID."""
        return self.key("idn")

    @property
    def numbers(self) -> str:
        """Set of phone numbers still available for choice."""
        return self.key("numbers")

    @property
    def number_owner(self) -> str:
        """Hash number → order id holding it."""
        return self.key("numowner")

    @property
    def orders(self) -> str:
        """Hash order_id → order record (JSON)."""
        return self.key("orders")

    @property
    def holds(self) -> str:
        """Sorted set order_id → pay-before deadline (ms) of each unpaid hold."""
        return self.key("holds")

    @property
    def idempotency(self) -> str:
        """Hash ``<len(buyer)>:<buyer>:<idempotency key>`` → stored outcome (JSON)."""
        return self.key("idem")

    @property
    def offers(self) -> str:
        """Hash offer version → offer snapshot JSON (orders keep the version they bought)."""
        return self.key("offers")

    @property
    def restocks(self) -> str:
        """Set of restock ids already applied."""
        return self.key("restocks")

    @property
    def number_fees(self) -> str:
        """Hash number → surcharge (minor units) for choosing it."""
        return self.key("numfee")

    @property
    def sold_out(self) -> str:
        """Hash: the sold-out lease (epoch, until ms; see ``inventory/_soldout.py``)."""
        return self.key("soldout")

    @property
    def tokens_due(self) -> str:
        """A bucketed round's own tag: sorted set token → deadline (ms) of limit tokens not yet
        bound to an order; a bucket: hash token → generation of released orders' tokens still
        to give back to the round. A token is its key's field in ``idempotency``."""
        return self.key("tokdue")

    def script_keys(self) -> list[str]:
        """KEYS for every inventory script, in the order ``inventory/lua/_lib.lua`` expects."""
        return [
            self.meta, self.stock, self.counters, self.accounts, self.ids, self.numbers,
            self.number_owner, self.orders, self.holds, self.idempotency, self.outbox,
            self.offers, self.restocks, self.number_fees, self.sold_out, self.tokens_due,
        ]  # fmt: skip


def outcome_field(buyer_id: str, idempotency_key: str) -> str:
    """The field of a (buyer, key)'s stored outcome in the round's idempotency hash (as
    ``reserve.lua`` names it: the buyer's length in bytes first, so no two pairs collide)."""
    return f"{len(buyer_id.encode())}:{buyer_id}:{idempotency_key}"
