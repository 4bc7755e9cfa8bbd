-- A stand-in for the migration of this number on another branch, so that
-- the numbers stay contiguous on this one; it changes nothing. It is
-- dropped when the branches are merged.
SELECT 1 FROM {{prefix}}schema_migrations LIMIT 0;
