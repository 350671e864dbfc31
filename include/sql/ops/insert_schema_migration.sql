-- Record one applied migration, in the transaction that applied it.
-- Params: version (integer): the file's number, name (text): the rest of its name.
INSERT INTO {{ schema }}.schema_migrations (version, name)
VALUES ({{ bind("version") }}, {{ bind("name") }})
