-- Orders and their append-only event log, written by the Kafka→PostgreSQL writers (issue 5).
-- Round ids are text (no foreign key to the catalog): the writer must accept an order whose
-- round row lives elsewhere or arrives later.
--
-- An order row can be *partial*: when order.paid (seq 2) arrives before order.reserved (seq 1)
-- the row is created with the status of the highest seq seen and the reservation fields stay
-- NULL (reserved_at IS NULL) until order.reserved fills them.
CREATE TABLE orders (
    id text PRIMARY KEY,
    round_id text NOT NULL,
    status text NOT NULL CHECK (status IN ('reserved', 'paid', 'expired', 'cancelled',
                                           'refund_required', 'shipped', 'delivered')),
    seq integer NOT NULL CHECK (seq >= 1),
    buyer_id text,
    id_hash text,
    quantity integer CHECK (quantity >= 1),
    number text,
    channel text,
    agreement_version text,
    offer jsonb,
    pii jsonb,                  -- masked / encrypted values only, never a raw national ID
    pay_before timestamptz,
    reserved_at timestamptz,    -- NULL while the row is partial (order.reserved not seen yet)
    paid_at timestamptz,
    payment_id text,
    updated_at timestamptz NOT NULL,   -- "at" of the event that set the current status
    created_at timestamptz NOT NULL DEFAULT now()  -- when the row was first written
);
CREATE INDEX orders_round_status ON orders (round_id, status);
CREATE INDEX orders_round_id_hash ON orders (round_id, id_hash);

CREATE TABLE order_events (
    event_id text PRIMARY KEY,
    order_id text NOT NULL,
    round_id text NOT NULL,
    type text NOT NULL,
    seq integer NOT NULL,
    status text NOT NULL,
    at timestamptz NOT NULL,
    data jsonb NOT NULL DEFAULT '{}'::jsonb,
    written_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_events_order ON order_events (order_id, seq);
CREATE INDEX order_events_round ON order_events (round_id);
