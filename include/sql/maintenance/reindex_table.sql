-- Runbook "Index Maintenance (Monthly)": rebuild indexes. CONCURRENTLY keeps the table open to
-- reads and writes; it cannot run in a transaction block (autocommit connection).
REINDEX TABLE CONCURRENTLY {{ table }}
