-- The database server's clock, read by the age guards of the archive and the cleanup.
SELECT STATEMENT_TIMESTAMP() AS database_now
