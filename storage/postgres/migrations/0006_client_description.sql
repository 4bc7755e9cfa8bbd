-- Clients gain description (storage.Client.Description): a note for
-- administrators, never shown to users. Every client created before reads
-- back with an empty description. A constant default, so existing rows are
-- not rewritten. {{prefix}} is replaced by the table prefix.

ALTER TABLE {{prefix}}clients ADD COLUMN description text NOT NULL DEFAULT '';
