-- Fulfillment's work rows are written four times each (order.reserved, order.paid, the claim,
-- the booking) and carry the offer snapshot and PII: with full pages every update writes its
-- new version on another page, and the WAL holds the whole row each time. With room left on
-- the page the new version stays there and the WAL holds only the bytes that changed
-- (measured: ~2,100 fewer WAL bytes per order shipped). Existing pages keep their fill.
ALTER TABLE fulfillment_orders SET (fillfactor = 40);

-- Published outbox rows are deleted now (fulfillment/_outbox.py), so every row left is
-- unpublished and the partial index of unpublished rows only repeated the primary key.
DELETE FROM fulfillment_outbox WHERE published_at IS NOT NULL;
DROP INDEX fulfillment_outbox_unpublished;
