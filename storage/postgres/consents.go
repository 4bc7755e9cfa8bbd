package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse/storage"
)

const consentColumns = `subject, client_id, scopes, granted_at, expires_at`

func scanConsent(row pgx.Row) (storage.Consent, error) {
	var (
		c                    storage.Consent
		grantedAt, expiresAt pgtype.Timestamptz
	)
	if err := row.Scan(&c.Subject, &c.ClientID, &c.Scopes, &grantedAt, &expiresAt); err != nil {
		return storage.Consent{}, err
	}
	c.GrantedAt, c.ExpiresAt = fromTS(grantedAt), fromTS(expiresAt)
	return c, nil
}

// SaveConsent implements [storage.ConsentStore]: one upsert replaces every
// field of an existing consent.
func (s *Store) SaveConsent(ctx context.Context, c storage.Consent) error {
	err := s.run(ctx, func(q querier) error {
		_, err := q.Exec(ctx, s.sql(`INSERT INTO {p}consents (`+consentColumns+`) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (subject, client_id) DO UPDATE
			SET scopes = EXCLUDED.scopes, granted_at = EXCLUDED.granted_at, expires_at = EXCLUDED.expires_at`),
			c.Subject, c.ClientID, c.Scopes, ts(c.GrantedAt), ts(c.ExpiresAt))
		return err
	})
	if err != nil {
		return s.fail(ctx, err, "save consent of %q for %q", c.Subject, c.ClientID)
	}
	return nil
}

// GetConsent implements [storage.ConsentStore].
func (s *Store) GetConsent(ctx context.Context, subject, clientID string) (storage.Consent, error) {
	var c storage.Consent
	err := s.run(ctx, func(q querier) error {
		var err error
		c, err = scanConsent(q.QueryRow(ctx, s.sql(`SELECT `+consentColumns+` FROM {p}consents
			WHERE subject = $1 AND client_id = $2`), subject, clientID))
		return err
	})
	if err != nil {
		return storage.Consent{}, s.fail(ctx, err, "get consent of %q for %q", subject, clientID)
	}
	return c, nil
}

// ListConsents implements [storage.ConsentStore]. The consents are ordered
// by client ID, compared byte by byte.
func (s *Store) ListConsents(ctx context.Context, subject string) ([]storage.Consent, error) {
	out, err := queryAll(ctx, s, scanConsent, `SELECT `+consentColumns+` FROM {p}consents
		WHERE subject = $1 ORDER BY client_id COLLATE "C"`, subject)
	if err != nil {
		return nil, s.fail(ctx, err, "list consents of %q", subject)
	}
	return out, nil
}

// RevokeConsent implements [storage.ConsentStore].
func (s *Store) RevokeConsent(ctx context.Context, subject, clientID string) error {
	err := s.run(ctx, func(q querier) error {
		return execOne(ctx, q, s.sql(`DELETE FROM {p}consents WHERE subject = $1 AND client_id = $2`), subject, clientID)
	})
	if err != nil {
		return s.fail(ctx, err, "revoke consent of %q for %q", subject, clientID)
	}
	return nil
}
