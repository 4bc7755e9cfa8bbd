-- storage.APIKey.RequireMFA: a key that enforces its owner's second factor.
-- false for every key made before; ADD COLUMN with a constant default does
-- not rewrite the table. {{prefix}} is replaced by the table prefix.

ALTER TABLE {{prefix}}api_keys ADD COLUMN require_mfa boolean NOT NULL DEFAULT false;
