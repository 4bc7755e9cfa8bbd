-- Clients gain logo_uri and client_uri (storage.Client.LogoURI and
-- ClientURI): the logo and home page the consent page shows. Clients made
-- before have neither: the columns default to '' (never NULL, like the
-- other text columns of clients). {{prefix}} is replaced by the table
-- prefix.

ALTER TABLE {{prefix}}clients
	ADD COLUMN logo_uri text NOT NULL DEFAULT '',
	ADD COLUMN client_uri text NOT NULL DEFAULT '';
