"""The archiver: finished rounds leave Redis.

A round is *finished* when all of these hold:

- it is over: ``rounds.status`` is ``closed`` or its end has passed (and ``grace`` seconds more);
- every hold is settled: the round's holds sorted set is empty;
- every event left Redis: the outbox stream is empty with nothing pending, nothing is parked
  in ``outbox:dead``;
- every event is in PostgreSQL: :func:`checkout.pipeline.reconcile.reconcile` for the round is
clean.

Then, per round (each step recorded in ``round_archive``, so a crash anywhere resumes)::

    1. PostgreSQL, one transaction, under the round's row lock (an extend racing us wins or
       loses cleanly): upsert the round_archive row (final counters, meta, offer snapshots,
       what was dropped, the clean reconcile report, the outbox's last entry id), one
       order_archive row per order, close the round if only its end had passed (so it can
       never be armed, extended or restocked again), audit rows.
    2. SREM the round from ``fs:armed`` (relay, sweeper and every front's round cache stop
       visiting it); ``unlisted_at``.
    3. After ``settle`` seconds (a relay pass that listed the round before step 2 is over):
       ``inventory.purge`` deletes every key under the round's hash tag in one script, only if
       the outbox's last id is still the one of step 1 and nothing is pending or held; then the
       admission index forgets the round; ``purged_at``.

A round of stock buckets (:mod:`inventory._buckets`) keeps its holds, orders, stored outcomes
and outbox in its buckets' key spaces ``<round>~<b>`` (their count read from the catalog, which
outlives the Redis meta): it is settled when every bucket is (holds, outbox, parked entries
summed), the snapshot covers every bucket's orders, step 1 records each bucket's outbox last id
(``round_archive.bucket_last_ids``), step 2 also removes the buckets from ``fs:armed-buckets``,
and step 3 checks every bucket before deleting any, then purges each bucket (one script per
bucket's slot, with its own last id) and the round's own tag last. A bucket whose keys are
already gone (a purge that crashed midway) counts as done.

If the round moved on between 1 and 3 (a late payment appended an event), the purge deletes
nothing, the round goes back into ``fs:armed`` and the next pass starts again at 1 (every
write above is an upsert, so repeating any step is harmless).

What is copied and what is not:

- copied: the counters (stocked, left, held, paid, released, refund_required, orders,
  sold_out_at and any other counter the scripts keep), the meta hash, the offer snapshots by
  version, and each order as the inventory shows it (status and seq of its lifecycle, payment
  id, amount, late flag, refunds — PostgreSQL's ``orders`` row moves on to shipped/delivered
  and does not keep every payment field), so the order API answers the same afterwards;
- not copied, counted in ``round_archive.dropped``: the relay ledger (every entry is an
  ``order.reserved`` event that reconcile found in PostgreSQL), the idempotency outcomes (a
  success names its order, which is archived; a refusal means nothing once the round is over:
  a reservation retried after the archive is answered "no such round"), the per-account and
  per-ID counters and the number-ownership hash (each order row holds its buyer, ID hash and
  number), the unsold numbers and applied restock ids (PostgreSQL's catalog holds both).

A payment arriving after the purge finds no order in Redis (``unknown_order``); the callback
endpoint then asks the archive (:func:`checkout.archived.payment_after_archive`): any payment but
the applied one becomes a ``refunds`` row, never kept. ``grace`` keeps a round in Redis for a
while after its end, so retried requests still replay their stored outcome.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from aiokafka.errors import KafkaError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from checkout.pipeline import relay
from checkout.pipeline.ledger import dead_letter_key, ledger_key
from checkout.pipeline.observe import outbox_backlog
from checkout.pipeline.reconcile import (
    _PAID,
    Difference,
    Report,
    _agrees,
    _diff,
    _pg_side,
    reconcile,
)
from flashsale.core.audit import Operator, audit
from flashsale.core.kafka import WRITER_GROUP
from flashsale.core.parked import open_count
from flashsale.core.retry import sleep_unless_stopped
from flashsale.core.settings import Settings
from inventory import ARMED_ROUNDS, Inventory, InventoryError, RoundKeys, RoundNotArmed
from inventory.keys import ADMISSION_ROUNDS, ARMED_BUCKETS, ROUND_ID, bucket_spaces
from inventory.purge import outbox_last_id, purge, round_keys

log = logging.getLogger("flashsale.archive")
ARCHIVER = Operator(actor="archiver")
_NOT_IN_CATALOG = "no such round in the catalog"
# When a round was over: its end, or when it was closed if that came first (a closed round's
# row changes no more, so updated_at is its closing time).
_CANDIDATES = """
SELECT id FROM rounds
WHERE id = ANY($1::text[])
  AND (CASE WHEN status = 'closed' THEN LEAST(ends_at, updated_at) ELSE ends_at END)
      <= now() - make_interval(secs => $2)
UNION SELECT round_id FROM round_archive WHERE purged_at IS NULL ORDER BY 1"""
_ROUND_OVER = """
SELECT status,
       (CASE WHEN status = 'closed' THEN LEAST(ends_at, updated_at) ELSE ends_at END) AS over_at,
       now() AS now
FROM rounds WHERE id = $1"""
# Outages, and a round whose Redis data cannot be read (a corrupt record: ValueError, KeyError,
# TypeError): that round fails this pass, the others are archived.
_FAILURES = (
    InventoryError, RedisError, asyncpg.PostgresError, asyncpg.InterfaceError, KafkaError,
    OSError, TimeoutError, ValueError, KeyError, TypeError,
)  # fmt: skip

_UPSERT_ROUND = """
INSERT INTO round_archive (round_id, stocked, left_units, held, paid, released,
    refund_required, orders, sold_out_at, redis_status, counters, meta, offers, dropped,
    reconcile, outbox_last_id, bucket_last_ids)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
ON CONFLICT (round_id) DO UPDATE SET
    stocked = EXCLUDED.stocked, left_units = EXCLUDED.left_units, held = EXCLUDED.held,
    paid = EXCLUDED.paid, released = EXCLUDED.released,
    refund_required = EXCLUDED.refund_required, orders = EXCLUDED.orders,
    sold_out_at = EXCLUDED.sold_out_at, redis_status = EXCLUDED.redis_status,
    counters = EXCLUDED.counters, meta = EXCLUDED.meta, offers = EXCLUDED.offers,
    dropped = EXCLUDED.dropped, reconcile = EXCLUDED.reconcile,
    outbox_last_id = EXCLUDED.outbox_last_id, bucket_last_ids = EXCLUDED.bucket_last_ids,
    archived_at = now(), unlisted_at = NULL
WHERE round_archive.purged_at IS NULL"""
_UPSERT_ORDER = """
INSERT INTO order_archive (order_id, round_id, buyer_id, offer_version, record)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (order_id) DO UPDATE SET buyer_id = EXCLUDED.buyer_id,
    offer_version = EXCLUDED.offer_version, record = EXCLUDED.record"""


@dataclass
class ArchiveConfig:
    grace: float = 0.0  # seconds a round must have been over before it is archived
    settle: float = 0.5  # seconds between leaving fs:armed and deleting the keys
    wait_settle: bool = True  # sleep them in archive() (else a later pass deletes the keys)
    writer_group: str = WRITER_GROUP  # the group reconcile measures the lag of
    round_prefix: str = ""  # only rounds whose id starts with this (tests, sharding)
    chunk: int = 500  # orders per HSCAN step and per gather
    concurrency: int = 16  # order reads in flight (a few Redis connections, not one per order)


@dataclass
class ArchiveOutcome:
    round_id: str
    state: str  # "archived" | "unlisted" (keys deleted on a later pass) | "not_finished"
    # | "skipped" (not a round of this catalog, or not in Redis) | "failed"
    reasons: list[str] = field(default_factory=list)
    orders: int = 0
    deleted_keys: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _hash(raw: dict[Any, Any]) -> dict[str, str]:
    return {_s(k): _s(v) for k, v in raw.items()}


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


class Archiver:
    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        pool: asyncpg.Pool,
        inventory: Inventory,
        config: ArchiveConfig | None = None,
        operator: Operator = ARCHIVER,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.pool = pool
        self.inventory = inventory
        self.config = config or ArchiveConfig()
        self.operator = operator

    # -- which rounds ------------------------------------------------------------------------
    async def candidates(self) -> list[str]:
        """Rounds of this catalog that are over and still (partly) in Redis."""
        members: set[Any] = await self.redis.smembers(ARMED_ROUNDS)  # type: ignore[misc]
        armed = [_s(m) for m in members]
        rows = await self.pool.fetch(_CANDIDATES, armed, self.config.grace)
        return [r["id"] for r in rows if r["id"].startswith(self.config.round_prefix)]

    async def archive_finished(self) -> list[ArchiveOutcome]:
        """One pass over every candidate; one round's failure never stops the others."""
        return [await self.archive(round_id) for round_id in await self.candidates()]

    async def archive(self, round_id: str) -> ArchiveOutcome:
        if not ROUND_ID.fullmatch(round_id):  # not a round id at all (any text may come in)
            return ArchiveOutcome(round_id, "skipped", [_NOT_IN_CATALOG])
        try:
            return await self._archive(round_id)
        except _FAILURES as exc:
            # Only the error's kind: a driver's message may quote the values it refused.
            sqlstate = getattr(exc, "sqlstate", None)
            why = type(exc).__name__ + (f" (SQLSTATE {sqlstate})" if sqlstate else "")
            log.warning("archive round=%s failed: %s", round_id, why)
            return ArchiveOutcome(round_id, "failed", [why])

    async def _archive(self, round_id: str) -> ArchiveOutcome:
        spaces = await self._buckets(round_id)
        row = await self._state(round_id)
        orders = 0
        if row is None or row["unlisted_at"] is None:
            taken = await self._take(round_id, row is not None, spaces)
            if taken.state != "unlisted":
                return taken
            orders = taken.orders
            row = await self._state(round_id)
            assert row is not None
        if row["purged_at"] is None:
            wait = self.config.settle - row["unlisted_for"]
            if wait > 0 and self.config.wait_settle:
                await asyncio.sleep(wait)
            elif wait > 0:
                return ArchiveOutcome(
                    round_id, "unlisted", [f"keys deleted in {wait:.0f}s"], orders
                )
            last_ids = {round_id: row["outbox_last_id"], **orjson.loads(row["bucket_last_ids"])}
            outcome = await self._purge(round_id, last_ids, spaces)
            outcome.orders = orders
            return outcome
        return await self._sweep_strays(round_id, spaces)

    async def _buckets(self, round_id: str) -> list[str]:
        """The key spaces of a bucketed round's buckets ([] for a round without): their count
        from the catalog, which still knows it once the round's own Redis meta is gone."""
        n = int(await self.pool.fetchval("SELECT buckets FROM rounds WHERE id = $1", round_id) or 1)
        return bucket_spaces(round_id, n) if n > 1 else []

    async def _unlist(self, round_id: str, spaces: list[str]) -> None:
        await self.redis.srem(ARMED_ROUNDS, round_id)  # type: ignore[misc]
        if spaces:
            await self.redis.srem(ARMED_BUCKETS, *spaces)  # type: ignore[misc]

    async def _relist(self, round_id: str, spaces: list[str]) -> None:
        """Back into the armed sets: the relay and the sweeper handle the round again."""
        await self.redis.sadd(ARMED_ROUNDS, round_id)  # type: ignore[misc]
        if spaces:
            await self.redis.sadd(ARMED_BUCKETS, *spaces)  # type: ignore[misc]

    async def _state(self, round_id: str) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            "SELECT unlisted_at, purged_at, outbox_last_id, bucket_last_ids::text, "
            "COALESCE(extract(epoch FROM now() - unlisted_at), 0)::float8 AS unlisted_for "
            "FROM round_archive WHERE round_id = $1",
            round_id,
        )

    # -- step 1 and 2: check, copy, unlist -----------------------------------------------------
    async def _over(self, conn: asyncpg.Connection | asyncpg.Pool, round_id: str) -> list[str]:
        rnd = await conn.fetchrow(_ROUND_OVER, round_id)
        if rnd is None:
            return [_NOT_IN_CATALOG]
        grace = timedelta(seconds=self.config.grace)
        if rnd["over_at"] > rnd["now"]:
            return [f"round is {rnd['status']} until {rnd['over_at'].isoformat()}"]
        if rnd["over_at"] + grace > rnd["now"]:
            return [f"round is over, kept until {(rnd['over_at'] + grace).isoformat()} (grace)"]
        return []

    async def _unsettled(
        self, round_id: str, spaces: list[str]
    ) -> tuple[list[str], dict[str, Any]]:
        """Why the round is not settled yet (empty when it is) and its reconcile report; a
        bucketed round's holds, outboxes and parked entries summed over its buckets."""
        every = [round_id, *spaces]
        reasons = []
        holds = sum([int(await self.redis.zcard(RoundKeys(s).holds)) for s in every])
        if holds:
            reasons.append(f"{holds} unpaid hold(s) open")
        backlog = await outbox_backlog(self.redis, round_id, relay.GROUP)
        if backlog["length"] or backlog["pending"]:
            reasons.append(
                f"outbox not relayed: {backlog['length']} entries, {backlog['pending']} pending"
            )
        dead = sum([int(await self.redis.xlen(dead_letter_key(s))) for s in every])
        if dead:
            reasons.append(f"{dead} outbox entries parked")
        if reasons:
            return reasons, {}
        report = await reconcile(
            self.settings, self.redis, self.pool, round_id, group=self.config.writer_group
        )
        if not report.ok:
            reasons.append("reconcile: " + ", ".join(d.code for d in report.differences))
        return reasons, report.as_dict()

    async def _take(self, round_id: str, known: bool, spaces: list[str]) -> ArchiveOutcome:
        reasons = await self._over(self.pool, round_id)
        if reasons:
            state = "skipped" if reasons == [_NOT_IN_CATALOG] else "not_finished"
            return ArchiveOutcome(round_id, state, reasons)
        last_id = await outbox_last_id(self.redis, round_id)  # before the checks: see purge
        bucket_last_ids = {s: await outbox_last_id(self.redis, s) for s in spaces}
        try:
            stats = await self.inventory.stats(round_id)
        except RoundNotArmed:
            return ArchiveOutcome(round_id, "skipped", ["round is not in Redis"])
        reasons, report = await self._unsettled(round_id, spaces)
        if reasons:
            if known:  # a purge found it moved on: the relay must see it again
                await self._relist(round_id, spaces)
            return ArchiveOutcome(round_id, "not_finished", reasons)
        keys = RoundKeys(round_id)
        meta = _hash(await self.redis.hgetall(keys.meta))  # type: ignore[misc]
        counters: dict[str, Any] = _hash(await self.redis.hgetall(keys.counters))  # type: ignore[misc]
        if spaces:  # each bucket's own counters (the round's summed ones are the columns)
            counters["buckets"] = {
                s: _hash(await self.redis.hgetall(RoundKeys(s).counters))  # type: ignore[misc]
                for s in spaces
            }
        offers = {
            k: orjson.loads(v)
            for s in [round_id, *spaces]  # every bucket keeps the snapshots of its orders
            for k, v in _hash(await self.redis.hgetall(RoundKeys(s).offers)).items()  # type: ignore[misc]
        }
        dropped = await self._dropped([round_id, *spaces])
        orders = await self._orders(round_id)
        sold_out = (
            None
            if stats.sold_out_at_ms is None
            else datetime.fromtimestamp(stats.sold_out_at_ms / 1000, UTC)
        )
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await conn.fetchrow(
                "SELECT status FROM rounds WHERE id = $1 FOR UPDATE", round_id
            )
            reasons = await self._over(conn, round_id)  # an extend may have won the lock
            if locked is None or reasons:
                return ArchiveOutcome(round_id, "not_finished", reasons)
            if await conn.fetchval(  # another archiver finished it while we read
                "SELECT purged_at IS NOT NULL FROM round_archive WHERE round_id = $1", round_id
            ):
                return ArchiveOutcome(round_id, "archived", ["archived by another archiver"])
            await conn.execute(
                _UPSERT_ROUND, round_id, stats.stocked, stats.left, stats.held, stats.paid,
                stats.released, stats.refund_required, stats.orders, sold_out, stats.status,
                _json(counters), _json(meta), _json(offers), _json(dropped),
                _json(report), last_id, _json(bucket_last_ids),
            )  # fmt: skip
            await conn.executemany(_UPSERT_ORDER, orders)
            if locked["status"] != "closed":
                await conn.execute(
                    "UPDATE rounds SET status = 'closed', updated_at = now() WHERE id = $1",
                    round_id,
                )
                await audit(
                    conn, self.operator, "round.close", f"round:{round_id}",
                    {"from": locked["status"], "to": "closed", "reason": "archived after its end"},
                )  # fmt: skip
            await audit(
                conn, self.operator, "round.archive", f"round:{round_id}",
                {"orders": len(orders), "stocked": stats.stocked, "paid": stats.paid},
            )  # fmt: skip
        if stats.status != "closed":  # Redis agrees with the catalog (no event, no new id)
            await self.inventory.set_status(round_id, "closed")
        await self._unlist(round_id, spaces)
        await self.pool.execute(
            "UPDATE round_archive SET unlisted_at = now() WHERE round_id = $1", round_id
        )
        log.info("archive round=%s orders=%d unlisted", round_id, len(orders))
        return ArchiveOutcome(round_id, "unlisted", orders=len(orders))

    async def _dropped(self, spaces: list[str]) -> dict[str, int]:
        """What is not copied, counted over the round's key spaces (its own and its buckets')."""
        names = (
            "idempotency_outcomes", "relay_ledger", "account_counters", "id_counters",
            "number_owners", "numbers_unsold", "restocks_applied",
        )  # fmt: skip
        dropped = dict.fromkeys(names, 0)
        for space in spaces:
            keys = RoundKeys(space)
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hlen(keys.idempotency)
                pipe.hlen(ledger_key(space))
                pipe.hlen(keys.accounts)
                pipe.hlen(keys.ids)
                pipe.hlen(keys.number_owner)
                pipe.scard(keys.numbers)
                pipe.scard(keys.restocks)
                values = await pipe.execute()
            for name, value in zip(names, values, strict=True):
                dropped[name] += int(value)
        return dropped

    async def _orders(self, round_id: str) -> list[tuple[str, str, str, str, str]]:
        """(order_id, round_id, buyer_id, offer_version, record) of every order of the round."""
        versions = await self.inventory.offer_versions(round_id, chunk=self.config.chunk)
        ids = sorted(versions)
        gate = asyncio.Semaphore(self.config.concurrency)

        async def read(oid: str) -> dict[str, Any] | None:
            async with gate:
                return await self.inventory.order(round_id, oid)

        rows = []
        for i in range(0, len(ids), self.config.chunk):
            part = ids[i : i + self.config.chunk]
            found = await asyncio.gather(*(read(o) for o in part))
            for oid, order in zip(part, found, strict=True):
                if order is None:  # cannot happen while the round is settled; be exact anyway
                    raise RoundNotArmed(f"order {oid} vanished while archiving", round_id=round_id)
                record = {**order, "offer": None}
                rows.append((oid, round_id, str(order["buyer_id"]), versions[oid], _json(record)))
        return rows

    # -- step 3: delete ------------------------------------------------------------------------
    async def _purge(
        self, round_id: str, last_ids: dict[str, str], spaces: list[str]
    ) -> ArchiveOutcome:
        """Delete the round's keys: each bucket's space, then its own tag (the meta naming the
        buckets goes last). Every space is checked first, so a round that moved on loses none."""
        todo = []
        for space in [*spaces, round_id]:
            keys = await round_keys(self.redis, space)
            if keys or space == round_id:  # a bucket with no key left was purged already
                todo.append((space, keys, last_ids.get(space, "")))
        if spaces:
            for space, keys, last_id in todo:
                checked = await purge(self.redis, space, keys, last_id, check=True)
                if not checked.ok:
                    return await self._moved_on(round_id, spaces, checked.reason)
        deleted = 0
        for space, keys, last_id in todo:
            result = await purge(self.redis, space, keys, last_id)
            if not result.ok:  # moved on since the check: the buckets done stay done
                return await self._moved_on(round_id, spaces, result.reason)
            deleted += result.deleted
        await self.redis.srem(ADMISSION_ROUNDS, round_id)  # type: ignore[misc]
        await self.pool.execute(
            "UPDATE round_archive SET purged_at = now() WHERE round_id = $1", round_id
        )
        log.info("archive round=%s purged keys=%d", round_id, deleted)
        return ArchiveOutcome(round_id, "archived", deleted_keys=deleted)

    async def _moved_on(self, round_id: str, spaces: list[str], reason: str) -> ArchiveOutcome:
        # Something happened after the archive was taken: back into the armed sets so the
        # relay and sweeper handle it; the next pass takes the archive again.
        await self._relist(round_id, spaces)
        await self.pool.execute(
            "UPDATE round_archive SET unlisted_at = NULL WHERE round_id = $1", round_id
        )
        log.warning("archive round=%s purge refused: %s", round_id, reason)
        return ArchiveOutcome(round_id, "not_finished", [f"changed after the archive: {reason}"])

    async def _sweep_strays(self, round_id: str, spaces: list[str]) -> ArchiveOutcome:
        """Already archived: delete any key recreated since (e.g. an empty stream)."""
        deleted = 0
        for space in [*spaces, round_id]:
            keys = await round_keys(self.redis, space)
            if keys:
                last_id = await outbox_last_id(self.redis, space)
                deleted += (await purge(self.redis, space, keys, last_id)).deleted
        await self._unlist(round_id, spaces)
        return ArchiveOutcome(round_id, "archived", ["already archived"], deleted_keys=deleted)


async def reconcile_archived(pool: asyncpg.Pool, round_id: str) -> Report | None:
    """Reconcile an archived round: its archive (what Redis said when it left) against
    PostgreSQL now, with the checks and codes of :func:`checkout.pipeline.reconcile.reconcile`;
    None when
    the round's keys are still in Redis (reconcile it there)."""
    row = await pool.fetchrow(
        "SELECT stocked, left_units, held, paid, released, refund_required, orders, purged_at "
        "FROM round_archive WHERE round_id = $1",
        round_id,
    )
    if row is None or row["purged_at"] is None:
        return None
    states = {
        r["order_id"]: (str(rec["status"]), int(rec["seq"]))
        for r in await pool.fetch(
            "SELECT order_id, record::text AS record FROM order_archive WHERE round_id = $1",
            round_id,
        )
        for rec in (orjson.loads(r["record"]),)
    }
    pg, complete, partial = await _pg_side(pool, round_id)
    diffs: list[Difference] = []
    units = {s: v["units"] for s, v in pg["by_status"].items()}
    if units.get("reserved", 0) != row["held"]:
        diffs.append(
            Difference(
                "held",
                f"archive holds {row['held']} units, PostgreSQL has "
                f"{units.get('reserved', 0)} reserved",
            )
        )
    pg_paid = sum(units.get(s, 0) for s in _PAID)
    if pg_paid != row["paid"]:
        diffs.append(
            Difference("paid", f"archive paid {row['paid']} units, PostgreSQL has {pg_paid} paid")
        )
    missing = set(states) - set(complete)
    if missing:
        diffs.append(
            _diff("missing_in_pg", f"{len(missing)} archived order(s) have no order row", missing)
        )
    if partial:
        diffs.append(
            _diff("partial_in_pg", f"{len(partial)} order row(s) lack order.reserved", partial)
        )
    unknown = set(complete) - set(states)
    if unknown:
        diffs.append(_diff("unknown_in_pg", f"{len(unknown)} order row(s) not archived", unknown))
    wrong = {o for o, st in states.items() if o in complete and not _agrees(st, complete[o])}
    if wrong:
        diffs.append(
            _diff("status", f"{len(wrong)} order(s) differ between archive and PostgreSQL", wrong)
        )
    parked, sample = await open_count(pool, round_id)
    if parked:
        diffs.append(
            Difference("parked", f"{parked} event(s) of the round are parked", parked, sample)
        )
    figures = {k: row[k] for k in ("stocked", "held", "paid", "released", "refund_required")}
    return Report(
        round_id,
        "archive",
        {"orders": len(states), "left": row["left_units"], **figures},
        pg,
        {"length": 0, "pending": 0},
        None,
        diffs,
        missing=sorted(missing | partial),
        parked=parked,
    )


async def reconcile_round(
    settings: Settings, redis: Redis, pool: asyncpg.Pool, round_id: str, *, group: str
) -> Report:
    """:func:`reconcile_archived` once the round left Redis, else the live reconcile."""
    archived = await reconcile_archived(pool, round_id)
    if archived is not None:
        return archived
    return await reconcile(settings, redis, pool, round_id, group=group)


async def run_archiver(archiver: Archiver, stop: asyncio.Event, interval: float = 30.0) -> int:
    """Archive finished rounds every ``interval`` seconds until ``stop``; returns how many."""
    archived = 0
    while not stop.is_set():
        try:
            outcomes = await archiver.archive_finished()
        except _FAILURES as exc:  # listing candidates failed (Redis or PostgreSQL down)
            log.warning("archive pass failed (will retry): %s", type(exc).__name__)
        else:
            archived += sum(o.state == "archived" for o in outcomes)
        await sleep_unless_stopped(stop, interval)
    return archived
