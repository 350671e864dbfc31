-- The version rows of the nurture_ops tables: one per migration file applied
-- (include/sql/ops/migrations/NNN_<name>.sql). Created by the first task that finds a migration
-- pending, under the schema lock; idempotent.
CREATE SCHEMA IF NOT EXISTS {{ schema }};

CREATE TABLE IF NOT EXISTS {{ schema }}.schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT NOW()
);
