-- A round split into stock buckets (0010, inventory/_buckets.py) has one outbox per bucket:
-- its archive records each bucket's last outbox entry id when it was taken, so the purge of
-- each bucket (one script per bucket's slot) deletes nothing if that bucket moved on since.
-- {"<round>~<b>": "<last id>" | ""}; '{}' for a round without buckets (outbox_last_id holds
-- its one outbox's).
ALTER TABLE round_archive ADD COLUMN bucket_last_ids json NOT NULL DEFAULT '{}';
