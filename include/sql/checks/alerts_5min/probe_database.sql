-- Database Connection Lost (runbook 2, critical): the probe itself is a connect with a
-- 5-second timeout and this statement (see nurture_ops.tasks.probe).
SELECT 1 AS reachable
