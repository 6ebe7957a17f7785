-- Catalog (products, offers, handset variants, phone-number pools) and sale rounds (issue 3).
-- PostgreSQL is the source of truth; `round arm` loads a round into Redis.

CREATE TABLE products (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('sim_card', 'plan', 'handset')),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE offers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id bigint NOT NULL REFERENCES products (id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    price_fen bigint NOT NULL CHECK (price_fen >= 0),           -- 1 yuan = 100 fen
    currency text NOT NULL DEFAULT 'CNY' CHECK (currency = 'CNY'),
    monthly_fee_fen bigint NOT NULL DEFAULT 0 CHECK (monthly_fee_fen >= 0),
    data_mb integer CHECK (data_mb >= 0),                        -- monthly data allowance
    voice_minutes integer CHECK (voice_minutes >= 0),            -- monthly voice allowance
    gifts jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(gifts) = 'array'),
    agreement_text text NOT NULL DEFAULT '',
    agreement_version text NOT NULL CHECK (length(agreement_version) BETWEEN 1 AND 64),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX offers_product ON offers (product_id);

CREATE TABLE variants (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id bigint NOT NULL REFERENCES products (id),
    offer_id bigint REFERENCES offers (id),
    colour text NOT NULL DEFAULT '',
    storage text NOT NULL DEFAULT '',
    sku text NOT NULL UNIQUE CHECK (length(sku) BETWEEN 1 AND 64),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE number_pools (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Each phone number is one unique sellable item, in exactly one pool.
CREATE TABLE pool_numbers (
    number text PRIMARY KEY CHECK (number ~ '^1[3-9][0-9]{9}$'),
    pool_id bigint NOT NULL REFERENCES number_pools (id),
    surcharge_fen bigint NOT NULL DEFAULT 0 CHECK (surcharge_fen >= 0),  -- "lucky number"
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pool_numbers_pool ON pool_numbers (pool_id);

CREATE TABLE rounds (
    id text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
    offer_id bigint NOT NULL REFERENCES offers (id),
    variant_id bigint REFERENCES variants (id),
    stock integer NOT NULL CHECK (stock > 0),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    per_account_limit integer NOT NULL CHECK (per_account_limit > 0),
    per_id_limit integer NOT NULL CHECK (per_id_limit > 0),
    hold_seconds integer NOT NULL CHECK (hold_seconds > 0),
    number_choice boolean NOT NULL DEFAULT false,
    number_pool_id bigint REFERENCES number_pools (id),
    channels text[] NOT NULL
        CHECK (cardinality(channels) > 0 AND channels <@ ARRAY['web', 'mobile', 'sms']),
    status text NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled', 'live', 'paused', 'sold_out', 'closed')),
    armed_at timestamptz,
    sold_out_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK (NOT number_choice OR number_pool_id IS NOT NULL),
    -- No two open rounds of one offer overlap in time (race-free: the database decides).
    -- A paused round may resume, so it keeps its window too.
    CONSTRAINT rounds_no_overlap EXCLUDE USING gist (
        int8range(offer_id, offer_id, '[]') WITH &&,
        tstzrange(starts_at, ends_at) WITH &&
    ) WHERE (status IN ('scheduled', 'live', 'paused'))
);
CREATE INDEX rounds_starts ON rounds (starts_at) WHERE armed_at IS NULL;
-- A number pool serves at most one round that is not closed.
CREATE UNIQUE INDEX rounds_one_pool ON rounds (number_pool_id)
    WHERE number_pool_id IS NOT NULL AND status <> 'closed';

-- Each restock has an id so applying it to Redis is idempotent (inventory.restock dedupes on it).
CREATE TABLE round_restocks (
    id text PRIMARY KEY,
    round_id text NOT NULL REFERENCES rounds (id),
    units integer NOT NULL CHECK (units > 0),
    applied_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX round_restocks_round ON round_restocks (round_id);
