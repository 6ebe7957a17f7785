-- `flashsale catalog retire` (issue 17): a retired product or offer gets no new offers or
-- rounds; what was sold from it stays as it was.
ALTER TABLE products ADD COLUMN retired_at timestamptz;
ALTER TABLE offers ADD COLUMN retired_at timestamptz;
