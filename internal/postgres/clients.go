package postgres

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/keyring"
	"github.com/reportd/reportd/internal/webhook"
)

// NewClient is everything needed to create a tenant with its first key and secret.
type NewClient struct {
	ID         string
	Name       string
	WebhookURL string
	KeyID      string
	KeyHash    []byte
	Scopes     []string
	// Secret is the first webhook signing key: an HMAC secret ("whsec_…")
	// or an ed25519 private key ("whsk_…").
	Secret string
}

// WithKeyring makes the store seal the webhook signing keys it writes, and
// open those it reads, with k. Without a key, HMAC secrets are stored as they
// are and ed25519 keys are refused with [keyring.ErrNoKey].
func (s *Store) WithKeyring(k *keyring.Keyring) *Store {
	s.keyring = k
	return s
}

// storedKey is a signing key as a webhook_secrets row holds it.
type storedKey struct {
	secret  string // sealed, or plaintext for HMAC without a keyring
	signing string
	public  []byte // ed25519 only
}

// sealKey is the one place that decides how a signing key is stored. An
// ed25519 key must decode, for its public key; an HMAC secret is stored as
// given, as it always was (the signer refuses a malformed one).
func (s *Store) sealKey(clientID, key string) (storedKey, error) {
	k := storedKey{secret: key, signing: webhook.SigningHMAC}
	if webhook.SigningOf(key) == webhook.SigningEd25519 {
		pub, err := webhook.PublicKeyOf(key)
		if err != nil {
			return storedKey{}, fmt.Errorf("store webhook signing key of %s: %w", clientID, err)
		}
		k.signing, k.public = webhook.SigningEd25519, pub
	} else if s.keyring == nil {
		return k, nil // as before keys were sealed; `reportctl keys reencrypt` seals it later
	}
	sealed, err := s.keyring.Seal(key, clientID)
	if err != nil {
		return storedKey{}, fmt.Errorf("store webhook signing key of %s: %w", clientID, err)
	}
	k.secret = sealed
	return k, nil
}

// openKeys returns the signing keys that stored values hold.
func (s *Store) openKeys(clientID string, stored []string) ([]string, error) {
	keys := make([]string, len(stored))
	for i, v := range stored {
		k, err := s.keyring.Open(v, clientID)
		if err != nil {
			return nil, fmt.Errorf("open webhook signing key of %s: %w", clientID, err)
		}
		keys[i] = k
	}
	return keys, nil
}

func insertSigningKey(ctx context.Context, tx pgx.Tx, clientID string, k storedKey) error {
	if _, err := tx.Exec(ctx, `INSERT INTO webhook_secrets (client_id, secret, signing, public_key) VALUES ($1, $2, $3, $4)`,
		clientID, k.secret, k.signing, k.public); err != nil {
		return fmt.Errorf("insert webhook signing key for %s: %w", clientID, err)
	}
	return nil
}

// CreateClient stores a client, its first API key (hash only) and its first
// webhook signing key, in one transaction.
func (s *Store) CreateClient(ctx context.Context, c NewClient) error {
	key, err := s.sealKey(c.ID, c.Secret)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO clients (id, name, webhook_url) VALUES ($1, $2, NULLIF($3, ''))`,
			c.ID, c.Name, c.WebhookURL); err != nil {
			return fmt.Errorf("insert client %s: %w", c.ID, err)
		}
		if err := insertKey(ctx, tx, c.ID, c.KeyID, c.KeyHash, c.Scopes); err != nil {
			return err
		}
		return insertSigningKey(ctx, tx, c.ID, key)
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
func (s *Store) LookupKey(ctx context.Context, keyID string) (domain.Principal, error) {
	var p domain.Principal
	err := s.pool.QueryRow(ctx, `SELECT k.client_id, k.scopes, k.hash,
			c.name, coalesce(c.webhook_url, ''), c.webhook_disabled_at IS NOT NULL, coalesce(c.max_in_flight, -1)
		FROM api_keys k JOIN clients c ON c.id = k.client_id WHERE k.id = $1 AND k.revoked_at IS NULL`, keyID).
		Scan(&p.ClientID, &p.Scopes, &p.Hash, &p.Client.Name, &p.Client.WebhookURL, &p.Client.WebhookDisabled, &p.Client.MaxInFlight)
	p.Client.ID = p.ClientID
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Principal{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Principal{}, classify(fmt.Errorf("look up api key: %w", err))
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
func (s *Store) GetClient(ctx context.Context, id string) (domain.Client, error) {
	return s.getClient(ctx, s.pool, id)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) getClient(ctx context.Context, q querier, id string) (domain.Client, error) {
	var c domain.Client
	var url *string
	err := q.QueryRow(ctx, `SELECT id, name, webhook_url, webhook_disabled_at IS NOT NULL, coalesce(max_in_flight, -1)
		FROM clients WHERE id = $1`, id).
		Scan(&c.ID, &c.Name, &url, &c.WebhookDisabled, &c.MaxInFlight)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Client{}, fmt.Errorf("client %s: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Client{}, classify(fmt.Errorf("load client %s: %w", id, err))
	}
	if url != nil {
		c.WebhookURL = *url
	}
	return c, nil
}

// FindClientByName returns the newest client with that name.
func (s *Store) FindClientByName(ctx context.Context, name string) (domain.Client, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT id FROM clients WHERE name = $1 ORDER BY created_at DESC LIMIT 1`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Client{}, fmt.Errorf("client named %q: %w", name, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Client{}, classify(fmt.Errorf("find client %q: %w", name, err))
	}
	return s.GetClient(ctx, id)
}

// SigningSecrets returns the keys that sign a client's webhooks right now:
// the current one first, then any still inside their rotation grace period.
func (s *Store) SigningSecrets(ctx context.Context, clientID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT secret FROM webhook_secrets
		WHERE client_id = $1 AND (expires_at IS NULL OR expires_at > now())
		ORDER BY expires_at DESC NULLS FIRST, id DESC`, clientID)
	if err != nil {
		return nil, classify(fmt.Errorf("load secrets of %s: %w", clientID, err))
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, classify(fmt.Errorf("load secrets of %s: %w", clientID, err))
	}
	return s.openKeys(clientID, stored)
}

// WebhookPublicKeys returns the ed25519 public keys of a client's signing
// keys that sign right now, the current one first, then those inside their
// rotation grace period. An HMAC client has none.
func (s *Store) WebhookPublicKeys(ctx context.Context, clientID string) ([]ed25519.PublicKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT public_key FROM webhook_secrets
		WHERE client_id = $1 AND signing = 'ed25519' AND (expires_at IS NULL OR expires_at > now())
		ORDER BY expires_at DESC NULLS FIRST, id DESC`, clientID)
	if err != nil {
		return nil, classify(fmt.Errorf("load public keys of %s: %w", clientID, err))
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ed25519.PublicKey, error) {
		var b []byte
		err := r.Scan(&b)
		return ed25519.PublicKey(b), err
	})
	if err != nil {
		return nil, classify(fmt.Errorf("load public keys of %s: %w", clientID, err))
	}
	return keys, nil
}

// CurrentSigning names the scheme of a client's current signing key
// (webhook.SigningHMAC or webhook.SigningEd25519).
func (s *Store) CurrentSigning(ctx context.Context, clientID string) (string, error) {
	if _, err := s.GetClient(ctx, clientID); err != nil {
		return "", err
	}
	var signing string
	err := s.pool.QueryRow(ctx, `SELECT signing FROM webhook_secrets WHERE client_id = $1
		ORDER BY expires_at DESC NULLS FIRST, id DESC LIMIT 1`, clientID).Scan(&signing)
	if errors.Is(err, pgx.ErrNoRows) {
		return webhook.SigningHMAC, nil
	}
	if err != nil {
		return "", classify(fmt.Errorf("load signing of %s: %w", clientID, err))
	}
	return signing, nil
}

// RotateSecret makes secret (an HMAC secret or an ed25519 key) the current
// signing key; the old ones keep signing for grace.
func (s *Store) RotateSecret(ctx context.Context, clientID, secret string, grace time.Duration) error {
	key, err := s.sealKey(clientID, secret)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := s.getClient(ctx, tx, clientID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_secrets SET expires_at = now() + $2::interval
			WHERE client_id = $1 AND (expires_at IS NULL OR expires_at > now() + $2::interval)`, clientID, grace); err != nil {
			return fmt.Errorf("expire old secrets of %s: %w", clientID, err)
		}
		return insertSigningKey(ctx, tx, clientID, key)
	})
}

// reencryptBatch is how many rows ReencryptSigningKeys reads at a time.
const reencryptBatch = 500

// ReencryptSigningKeys seals every stored signing key that is plaintext or
// sealed under an older key-encryption key again under the current one, and
// returns how many it sealed. Rows are updated one by one, only if unchanged
// since they were read, so it is safe beside running servers and may be run
// again after an interruption. Expired keys are sealed too: they are still
// secrets.
func (s *Store) ReencryptSigningKeys(ctx context.Context) (sealed int, err error) {
	if s.keyring == nil {
		return 0, keyring.ErrNoKey
	}
	type row struct {
		id             int64
		client, secret string
	}
	var after int64
	for {
		rows, err := s.pool.Query(ctx, `SELECT id, client_id, secret FROM webhook_secrets WHERE id > $1 ORDER BY id LIMIT $2`, after, reencryptBatch)
		if err != nil {
			return sealed, classify(fmt.Errorf("read signing keys after %d: %w", after, err))
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.id, &x.client, &x.secret)
			return x, err
		})
		if err != nil {
			return sealed, classify(fmt.Errorf("read signing keys after %d: %w", after, err))
		}
		for _, r := range batch {
			after = r.id
			if !s.keyring.NeedsReseal(r.secret) {
				continue
			}
			plain, err := s.keyring.Open(r.secret, r.client)
			if err != nil {
				return sealed, fmt.Errorf("re-encrypt signing key %d: %w", r.id, err)
			}
			again, err := s.keyring.Seal(plain, r.client)
			if err != nil {
				return sealed, fmt.Errorf("re-encrypt signing key %d: %w", r.id, err)
			}
			tag, err := s.pool.Exec(ctx, `UPDATE webhook_secrets SET secret = $2 WHERE id = $1 AND secret = $3`, r.id, again, r.secret)
			if err != nil {
				return sealed, classify(fmt.Errorf("re-encrypt signing key %d: %w", r.id, err))
			}
			sealed += int(tag.RowsAffected())
		}
		if len(batch) < reencryptBatch {
			return sealed, nil
		}
	}
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
		return fmt.Errorf("client %s: %w", clientID, domain.ErrNotFound)
	}
	return nil
}
