-- Hot-round stock buckets (issue 15): a round's stock split over B buckets, each under its own
-- Redis hash tag (inventory/_buckets.py). 1 = one key space, as before.
ALTER TABLE rounds ADD COLUMN buckets integer NOT NULL DEFAULT 1
    CHECK (buckets BETWEEN 1 AND 64);
