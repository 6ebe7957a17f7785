-- "My orders" (issue 16): the storefront lists a buyer's own orders, newest first.
CREATE INDEX orders_buyer ON orders (buyer_id, created_at DESC);
