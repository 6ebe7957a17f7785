-- Money is exact (issue 12): the amount due is stored with each order, and every payment that
-- is not kept becomes a refund row.
--
-- orders.surcharge_fen / total_fen come from order.reserved (price_fen x quantity + the chosen
-- number's surcharge = total_fen, fixed by the reserve script from the order's snapshot); they
-- fill in like the other reservation fields (NULL while the row is partial).
ALTER TABLE orders
    ADD COLUMN surcharge_fen bigint CHECK (surcharge_fen >= 0),
    ADD COLUMN total_fen bigint CHECK (total_fen >= 0);

-- One row per payment to give back, written by the writer from order.refund_required (a late
-- payment, no units left: reason late_payment, detail = why) and payment.refund_required
-- (reason duplicate_payment or amount_mismatch; the order's status is unchanged). An operator
-- marks it refunded once the provider has paid it back (`flashsale refunds settle`, audited).
CREATE TABLE refunds (
    payment_id text PRIMARY KEY,
    order_id text NOT NULL,
    round_id text NOT NULL,
    amount_fen bigint NOT NULL CHECK (amount_fen >= 0),
    reason text NOT NULL CHECK (reason IN ('late_payment', 'duplicate_payment',
                                           'amount_mismatch')),
    detail text,
    event_id text NOT NULL,
    state text NOT NULL DEFAULT 'required' CHECK (state IN ('required', 'refunded')),
    required_at timestamptz NOT NULL,   -- "at" of the refund event
    refunded_at timestamptz,
    refunded_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'refunded') = (refunded_at IS NOT NULL))
);
CREATE INDEX refunds_state ON refunds (state, required_at);
CREATE INDEX refunds_order ON refunds (order_id);
