-- Drop an index left INVALID (e.g. *_ccnew by a failed REINDEX CONCURRENTLY) without blocking
-- writes. The caller checks right before that the index is still invalid.
DROP INDEX CONCURRENTLY IF EXISTS {{ index }}
