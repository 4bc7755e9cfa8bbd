-- Clients gain introspect_audiences (storage.Client.IntrospectAudiences):
-- the access-token audiences a resource server may introspect besides its
-- own tokens. NULL, as for every client created before, means none: such a
-- client introspects its own tokens only. {{prefix}} is replaced by the
-- table prefix.

ALTER TABLE {{prefix}}clients ADD COLUMN introspect_audiences text[];
