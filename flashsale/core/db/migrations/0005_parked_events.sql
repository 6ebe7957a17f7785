-- Parked pipeline events (issue 12): one dead-letter store for every event or round a process
-- could not handle permanently (a sink rejected it, it did not decode, it is over the Kafka
-- message size, a script failed for one round). The process parks it here with a stable reason
-- code and goes on; operators list and retry them (`flashsale parked list|retry|resolve`), the
-- ops dashboard counts them and `flashsale reconcile` reports a round's unresolved ones.
--
-- The payload is bytea so that parking itself can never be rejected (any bytes fit); every text
-- column is cleaned by the parker (no NUL, valid UTF-8, bounded). `dedupe_key` makes parking
-- idempotent when a batch is replayed: the Kafka position (writer, fulfillment), the stream
-- entry (relay) or the round and time bucket (sweeper, relay round errors).
CREATE TABLE parked_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    process text NOT NULL CHECK (process IN ('writer', 'fulfillment', 'relay', 'sweeper')),
    dedupe_key text NOT NULL UNIQUE,
    topic text,                         -- Kafka source: topic, partition, offset
    kafka_partition integer,
    kafka_offset bigint,
    round_id text,                      -- Redis source: round (+ outbox stream entry id)
    entry_id text,
    event_id text,                      -- what is known of the event
    order_id text,
    reason text NOT NULL,               -- stable code: sink_rejected:22P05, malformed, oversize,
                                        -- kafka_rejected:<error>, script_error, round_error:<..>
    message text NOT NULL DEFAULT '',   -- short, never payload text
    payload bytea,                      -- the raw message / entry as received
    state text NOT NULL DEFAULT 'parked' CHECK (state IN ('parked', 'retried', 'resolved')),
    created_at timestamptz NOT NULL DEFAULT now(),
    retried_at timestamptz,
    retried_by text,
    resolved_at timestamptz,
    resolved_by text
);
CREATE INDEX parked_events_open ON parked_events (process, id) WHERE state = 'parked';
CREATE INDEX parked_events_round ON parked_events (round_id) WHERE state = 'parked';
