package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/storage"
)

// SaveConsent implements [storage.ConsentStore].
func (s *Store) SaveConsent(ctx context.Context, c storage.Consent) error {
	return s.tx(ctx, func() error {
		s.consents[consentKey{c.Subject, c.ClientID}] = copyConsent(c)
		return nil
	})
}

// GetConsent implements [storage.ConsentStore].
func (s *Store) GetConsent(ctx context.Context, subject, clientID string) (storage.Consent, error) {
	var c storage.Consent
	err := s.tx(ctx, func() error {
		got, ok := s.consents[consentKey{subject, clientID}]
		if !ok {
			return fmt.Errorf("memory: get consent of %q for %q: %w", subject, clientID, storage.ErrNotFound)
		}
		c = copyConsent(got)
		return nil
	})
	return c, err
}

// ListConsents implements [storage.ConsentStore]. The consents are ordered
// by client ID, compared byte by byte.
func (s *Store) ListConsents(ctx context.Context, subject string) ([]storage.Consent, error) {
	var out []storage.Consent
	err := s.tx(ctx, func() error {
		out = []storage.Consent{}
		for k, c := range s.consents {
			if k.subject == subject {
				out = append(out, copyConsent(c))
			}
		}
		slices.SortFunc(out, func(a, b storage.Consent) int { return strings.Compare(a.ClientID, b.ClientID) })
		return nil
	})
	return out, err
}

// RevokeConsent implements [storage.ConsentStore].
func (s *Store) RevokeConsent(ctx context.Context, subject, clientID string) error {
	return s.tx(ctx, func() error {
		k := consentKey{subject, clientID}
		if _, ok := s.consents[k]; !ok {
			return fmt.Errorf("memory: revoke consent of %q for %q: %w", subject, clientID, storage.ErrNotFound)
		}
		delete(s.consents, k)
		return nil
	})
}
