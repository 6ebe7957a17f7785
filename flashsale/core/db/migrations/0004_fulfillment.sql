-- Fulfillment (issue 6): physical stock, the work queue fed from the orders topic, shipments,
-- their history, gift activations, dead letters, a PostgreSQL outbox towards Kafka, and the
-- simulated carrier's own store (stands in for the carrier's side of its HTTP API).

-- One row per order as fulfillment knows it: filled from order.reserved (snapshot, quantity,
-- number, channel, pii) and order.paid (paid_seq, paid_at) in whatever order they arrive.
-- Work is claimed with FOR UPDATE SKIP LOCKED and a lease, so several workers share it and a
-- crashed worker's claim expires.
CREATE TABLE fulfillment_orders (
    order_id text PRIMARY KEY,
    round_id text NOT NULL,
    offer jsonb,                       -- the snapshot from order.reserved (NULL until seen)
    quantity integer CHECK (quantity >= 1),
    number text,                       -- the number the shopper chose, if any
    channel text,
    pii jsonb,                         -- masked / encrypted values only (address for the parcel)
    paid_seq integer,
    paid_at timestamptz,
    void_seq integer,                  -- seq of an expired/cancelled/refund_required event;
    void_reason text,                  -- it voids the order when above paid_seq
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'working', 'booked', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz,
    worker text,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fulfillment_orders_ready ON fulfillment_orders (next_attempt_at)
    WHERE state IN ('pending', 'working');

-- Blank SIM cards. An ICCID is bound to at most one (order, unit); a defective card (refused by
-- the snapshot check) is never allocated again.
CREATE TABLE sim_cards (
    iccid text PRIMARY KEY CHECK (iccid ~ '^8986[0-9]{15,16}$'),
    order_id text,
    unit integer,
    number text,
    allocated_at timestamptz,
    defect text,
    UNIQUE (order_id, unit)
);
CREATE INDEX sim_cards_free ON sim_cards (iccid) WHERE order_id IS NULL AND defect IS NULL;

-- Handset models: which type allocation codes (first 8 IMEI digits) belong to a variant SKU.
CREATE TABLE handset_models (
    sku text NOT NULL,
    tac text NOT NULL CHECK (tac ~ '^[0-9]{8}$'),
    PRIMARY KEY (sku, tac)
);

-- Handsets in the warehouse, labelled with the SKU of the shelf they sit on.
CREATE TABLE handsets (
    imei text PRIMARY KEY CHECK (imei ~ '^[0-9]{15}$'),
    sku text NOT NULL,
    order_id text,
    unit integer,
    allocated_at timestamptz,
    defect text,
    UNIQUE (order_id, unit)
);
CREATE INDEX handsets_free ON handsets (sku) WHERE order_id IS NULL AND defect IS NULL;

-- Phone numbers bound to orders: chosen ones are inserted on binding; spare ones (assignable)
-- are seeded and handed out to orders that did not choose.
CREATE TABLE phone_numbers (
    number text PRIMARY KEY CHECK (number ~ '^1[3-9][0-9]{9}$'),
    assignable boolean NOT NULL DEFAULT false,
    order_id text,
    unit integer,
    bound_at timestamptz,
    UNIQUE (order_id, unit)
);
CREATE INDEX phone_numbers_spare ON phone_numbers (number)
    WHERE order_id IS NULL AND assignable;

CREATE TABLE shipments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id text NOT NULL UNIQUE,
    round_id text NOT NULL,
    carrier text NOT NULL,
    tracking_no text NOT NULL,
    state text NOT NULL
        CHECK (state IN ('booked', 'picked_up', 'in_transit', 'delivered', 'failed')),
    promised_by timestamptz NOT NULL,  -- the carrier's estimate at booking
    promised_date date NOT NULL,       -- the same, as a date in the sale's zone
    booked_at timestamptz NOT NULL,
    delivered_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    manifest jsonb NOT NULL,           -- what is in the parcel (ICCIDs, IMEIs, numbers)
    UNIQUE (carrier, tracking_no)
);
CREATE INDEX shipments_open ON shipments (promised_by)
    WHERE state NOT IN ('delivered', 'failed');

CREATE TABLE shipment_history (
    order_id text NOT NULL REFERENCES shipments (order_id),
    state text NOT NULL,
    at timestamptz NOT NULL,
    PRIMARY KEY (order_id, state)
);

-- Gifts from the snapshot (data, credit, voice, item), one row per gift per order.
CREATE TABLE gift_activations (
    order_id text NOT NULL,
    gift_index integer NOT NULL,
    kind text NOT NULL,
    amount text NOT NULL,
    unit text,
    number text,                       -- the line the gift is credited to (NULL for items)
    code text NOT NULL UNIQUE,
    issued_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, gift_index)
);

CREATE TABLE fulfillment_dead_letters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id text NOT NULL,
    round_id text NOT NULL,
    code text NOT NULL,
    reason text NOT NULL,
    attempts integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    requeued_at timestamptz,
    requeued_by text
);
CREATE UNIQUE INDEX fulfillment_dead_letters_open ON fulfillment_dead_letters (order_id)
    WHERE requeued_at IS NULL;

-- Messages to publish to Kafka, written in the transaction that makes the change and published
-- afterwards (at least once; consumers dedupe on event_id).
CREATE TABLE fulfillment_outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic text NOT NULL CHECK (topic IN ('shipments', 'dead_letter')),
    key text NOT NULL,
    event_id text NOT NULL UNIQUE,
    value jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX fulfillment_outbox_unpublished ON fulfillment_outbox (id) WHERE published_at IS NULL;

-- The simulated carrier's side: bookings by idempotency key (as a real carrier API keeps them).
CREATE TABLE sim_carrier_bookings (
    carrier text NOT NULL,
    idempotency_key text NOT NULL,
    tracking_no text NOT NULL UNIQUE,
    parcel jsonb NOT NULL,
    requests integer NOT NULL DEFAULT 1,
    estimate timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (carrier, idempotency_key)
);
