-- Finished rounds archived out of Redis (issue 12): what PostgreSQL did not already hold.
-- `checkout.archive` writes one round_archive row per round (its final counters, meta, offer
-- snapshots, the clean reconcile it was taken on) and one order_archive row per order (the
-- order as the inventory showed it), then deletes the round's Redis keys. The steps are
-- recorded (unlisted_at: left the armed set; purged_at: keys deleted) so a crash midway is
-- resumed from here. `json` (not jsonb) keeps the text as Redis held it, key order included.
CREATE TABLE round_archive (
    round_id text PRIMARY KEY,
    stocked integer NOT NULL,
    left_units integer NOT NULL,
    held integer NOT NULL,
    paid integer NOT NULL,
    released integer NOT NULL,
    refund_required integer NOT NULL,
    orders integer NOT NULL,
    sold_out_at timestamptz,
    redis_status text NOT NULL,
    counters json NOT NULL,        -- the counters hash as it was (any field the scripts keep)
    meta json NOT NULL,            -- the meta hash as armed (window, limits, channels, versions)
    offers json NOT NULL,          -- offer version -> snapshot; order_archive rows name theirs
    dropped json NOT NULL,         -- what was deliberately not copied, counted (see archive.py)
    reconcile json NOT NULL,       -- the clean reconcile report the archive was taken on
    outbox_last_id text NOT NULL,  -- the outbox's last entry id then ('' = no stream)
    archived_at timestamptz NOT NULL DEFAULT now(),
    unlisted_at timestamptz,       -- removed from the armed set (relay, sweeper, fronts)
    purged_at timestamptz          -- every Redis key of the round deleted
);
CREATE INDEX round_archive_unpurged ON round_archive (round_id) WHERE purged_at IS NULL;

CREATE TABLE order_archive (
    order_id text PRIMARY KEY,
    round_id text NOT NULL REFERENCES round_archive (round_id),
    buyer_id text NOT NULL,
    offer_version text NOT NULL,
    record json NOT NULL           -- inventory's view of the order, "offer" left null
);
CREATE INDEX order_archive_round ON order_archive (round_id);
