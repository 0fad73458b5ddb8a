-- Retention: the purge (decisions older than --retention-days) picks its batches oldest
-- first by creation time; without this index each batch would scan the whole table while
-- holding the write lock.
CREATE INDEX decisions_created ON decisions (created_at);
