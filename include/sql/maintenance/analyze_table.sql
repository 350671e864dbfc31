-- Runbook "Index Maintenance (Monthly)": update statistics.
ANALYZE {{ table }}
