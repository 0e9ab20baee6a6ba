-- Which numbered migrations this database has applied. The runner creates nothing itself:
-- this file is applied first, and every file after it is recorded here.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
