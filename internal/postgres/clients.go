package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/reports"
)

// NewClient is everything needed to create a tenant with its first key and secret.
type NewClient struct {
	ID         string
	Name       string
	WebhookURL string
	KeyID      string
	KeyHash    []byte
	Scopes     []string
	Secret     string
}

// CreateClient stores a client, its first API key (hash only) and its first
// webhook secret, in one transaction.
func (s *Store) CreateClient(ctx context.Context, c NewClient) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO clients (id, name, webhook_url) VALUES ($1, $2, NULLIF($3, ''))`,
			c.ID, c.Name, c.WebhookURL); err != nil {
			return fmt.Errorf("insert client %s: %w", c.ID, err)
		}
		if err := insertKey(ctx, tx, c.ID, c.KeyID, c.KeyHash, c.Scopes); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_secrets (client_id, secret) VALUES ($1, $2)`, c.ID, c.Secret); err != nil {
			return fmt.Errorf("insert webhook secret for %s: %w", c.ID, err)
		}
		return nil
	})
}

func insertKey(ctx context.Context, tx pgx.Tx, clientID, keyID string, hash []byte, scopes []string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO api_keys (id, client_id, prefix, hash, scopes) VALUES ($1, $2, $3, $4, $5)`,
		keyID, clientID, "rk_"+keyID, hash, scopes); err != nil {
		return fmt.Errorf("insert api key for %s: %w", clientID, err)
	}
	return nil
}

// LookupKey finds an unrevoked key by its public id. The caller compares the
// hash in constant time.
func (s *Store) LookupKey(ctx context.Context, keyID string) (reports.Principal, error) {
	var p reports.Principal
	err := s.pool.QueryRow(ctx, `SELECT k.client_id, k.scopes, k.hash,
			c.name, coalesce(c.webhook_url, ''), c.webhook_disabled_at IS NOT NULL, coalesce(c.max_in_flight, -1)
		FROM api_keys k JOIN clients c ON c.id = k.client_id WHERE k.id = $1 AND k.revoked_at IS NULL`, keyID).
		Scan(&p.ClientID, &p.Scopes, &p.Hash, &p.Client.Name, &p.Client.WebhookURL, &p.Client.WebhookDisabled, &p.Client.MaxInFlight)
	p.Client.ID = p.ClientID
	if errors.Is(err, pgx.ErrNoRows) {
		return reports.Principal{}, reports.ErrNotFound
	}
	if err != nil {
		return reports.Principal{}, classify(fmt.Errorf("look up api key: %w", err))
	}
	return p, nil
}

// RotateKey revokes every key of a client and stores a new one.
func (s *Store) RotateKey(ctx context.Context, clientID, keyID string, hash []byte, scopes []string) (revoked int64, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE client_id = $1 AND revoked_at IS NULL`, clientID)
		if err != nil {
			return fmt.Errorf("revoke keys of %s: %w", clientID, err)
		}
		revoked = tag.RowsAffected()
		if revoked == 0 {
			if _, err := s.getClient(ctx, tx, clientID); err != nil {
				return err
			}
		}
		return insertKey(ctx, tx, clientID, keyID, hash, scopes)
	})
	return revoked, err
}

// GetClient loads one client.
func (s *Store) GetClient(ctx context.Context, id string) (reports.Client, error) {
	return s.getClient(ctx, s.pool, id)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) getClient(ctx context.Context, q querier, id string) (reports.Client, error) {
	var c reports.Client
	var url *string
	err := q.QueryRow(ctx, `SELECT id, name, webhook_url, webhook_disabled_at IS NOT NULL, coalesce(max_in_flight, -1)
		FROM clients WHERE id = $1`, id).
		Scan(&c.ID, &c.Name, &url, &c.WebhookDisabled, &c.MaxInFlight)
	if errors.Is(err, pgx.ErrNoRows) {
		return reports.Client{}, fmt.Errorf("client %s: %w", id, reports.ErrNotFound)
	}
	if err != nil {
		return reports.Client{}, classify(fmt.Errorf("load client %s: %w", id, err))
	}
	if url != nil {
		c.WebhookURL = *url
	}
	return c, nil
}

// FindClientByName returns the newest client with that name.
func (s *Store) FindClientByName(ctx context.Context, name string) (reports.Client, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT id FROM clients WHERE name = $1 ORDER BY created_at DESC LIMIT 1`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return reports.Client{}, fmt.Errorf("client named %q: %w", name, reports.ErrNotFound)
	}
	if err != nil {
		return reports.Client{}, classify(fmt.Errorf("find client %q: %w", name, err))
	}
	return s.GetClient(ctx, id)
}

// SigningSecrets returns the secrets that sign a client's webhooks right now:
// the current one first, then any still inside their rotation grace period.
func (s *Store) SigningSecrets(ctx context.Context, clientID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT secret FROM webhook_secrets
		WHERE client_id = $1 AND (expires_at IS NULL OR expires_at > now())
		ORDER BY expires_at DESC NULLS FIRST, id DESC`, clientID)
	if err != nil {
		return nil, classify(fmt.Errorf("load secrets of %s: %w", clientID, err))
	}
	secrets, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, classify(fmt.Errorf("load secrets of %s: %w", clientID, err))
	}
	return secrets, nil
}

// RotateSecret makes secret the current one; the old ones keep signing for grace.
func (s *Store) RotateSecret(ctx context.Context, clientID, secret string, grace time.Duration) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := s.getClient(ctx, tx, clientID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_secrets SET expires_at = now() + $2::interval
			WHERE client_id = $1 AND (expires_at IS NULL OR expires_at > now() + $2::interval)`, clientID, grace); err != nil {
			return fmt.Errorf("expire old secrets of %s: %w", clientID, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_secrets (client_id, secret) VALUES ($1, $2)`, clientID, secret); err != nil {
			return fmt.Errorf("insert secret for %s: %w", clientID, err)
		}
		return nil
	})
}

// DisableWebhook stops deliveries to url after the receiver answered 410.
// A client whose URL has since changed keeps the new one.
func (s *Store) DisableWebhook(ctx context.Context, clientID, url string) error {
	_, err := s.pool.Exec(ctx, `UPDATE clients SET webhook_disabled_at = now()
		WHERE id = $1 AND webhook_url = $2 AND webhook_disabled_at IS NULL`, clientID, url)
	if err != nil {
		return classify(fmt.Errorf("disable webhook of %s: %w", clientID, err))
	}
	return nil
}

// SetWebhookURL changes a client's default URL and re-enables it.
func (s *Store) SetWebhookURL(ctx context.Context, clientID, url string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE clients SET webhook_url = NULLIF($2, ''), webhook_disabled_at = NULL WHERE id = $1`, clientID, url)
	if err != nil {
		return classify(fmt.Errorf("set webhook url of %s: %w", clientID, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("client %s: %w", clientID, reports.ErrNotFound)
	}
	return nil
}
