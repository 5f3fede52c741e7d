package postgres

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/domain"
)

const (
	keyTTL = 24 * time.Hour
	// A claim older than this belongs to a request that died; a repeat may take it over.
	staleClaim = time.Minute
)

// ClaimKey claims key for this request. It returns the stored response when
// the key already completed, domain.ErrKeyReused when the key came with another body,
// and domain.ErrKeyInFlight while another request holds it.
func (s *Store) ClaimKey(ctx context.Context, k domain.IdempotencyKey) (*domain.StoredResponse, error) {
	var stored *domain.StoredResponse
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (client_id, endpoint, key, fingerprint, expires_at)
			VALUES ($1, $2, $3, $4, now() + $5::interval) ON CONFLICT DO NOTHING`,
			k.ClientID, k.Endpoint, k.Key, k.Fingerprint, keyTTL)
		if err != nil {
			return fmt.Errorf("claim idempotency key: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		var fp, body []byte
		var status *int
		var claimedAt, expiresAt time.Time
		if err := tx.QueryRow(ctx, `SELECT fingerprint, response_status, response_body, created_at, expires_at
			FROM idempotency_keys WHERE client_id = $1 AND endpoint = $2 AND key = $3 FOR UPDATE`,
			k.ClientID, k.Endpoint, k.Key).Scan(&fp, &status, &body, &claimedAt, &expiresAt); err != nil {
			return fmt.Errorf("read idempotency key: %w", err)
		}
		expired := time.Until(expiresAt) < 0
		switch {
		case expired || (status == nil && time.Since(claimedAt) > staleClaim):
			_, err := tx.Exec(ctx, `UPDATE idempotency_keys SET fingerprint = $4, response_status = NULL, response_body = NULL,
				created_at = now(), expires_at = now() + $5::interval WHERE client_id = $1 AND endpoint = $2 AND key = $3`,
				k.ClientID, k.Endpoint, k.Key, k.Fingerprint, keyTTL)
			if err != nil {
				return fmt.Errorf("take over idempotency key: %w", err)
			}
			return nil
		case !bytes.Equal(fp, k.Fingerprint):
			return domain.ErrKeyReused
		case status == nil:
			return domain.ErrKeyInFlight
		}
		stored = &domain.StoredResponse{Status: *status, Body: body}
		return nil
	})
	return stored, err
}

// CompleteKey stores the response of a claimed key.
func (s *Store) CompleteKey(ctx context.Context, k domain.IdempotencyKey, status int, body []byte) error {
	return s.inTx(ctx, func(tx pgx.Tx) error { return completeKey(ctx, tx, k, status, body) })
}

func completeKey(ctx context.Context, tx pgx.Tx, k domain.IdempotencyKey, status int, body []byte) error {
	if _, err := tx.Exec(ctx, `UPDATE idempotency_keys SET response_status = $4, response_body = $5
		WHERE client_id = $1 AND endpoint = $2 AND key = $3`, k.ClientID, k.Endpoint, k.Key, status, body); err != nil {
		return fmt.Errorf("store idempotent response: %w", err)
	}
	return nil
}

// ReleaseKey forgets an unfinished claim, so the client may retry with the
// same key after an error that stored nothing.
func (s *Store) ReleaseKey(ctx context.Context, k domain.IdempotencyKey) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys
		WHERE client_id = $1 AND endpoint = $2 AND key = $3 AND response_status IS NULL`, k.ClientID, k.Endpoint, k.Key)
	if err != nil {
		return classify(fmt.Errorf("release idempotency key: %w", err))
	}
	return nil
}

// DeleteExpiredKeys removes keys past their 24 h life.
func (s *Store) DeleteExpiredKeys(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE expires_at < now()`)
	if err != nil {
		return 0, classify(fmt.Errorf("delete expired idempotency keys: %w", err))
	}
	return tag.RowsAffected(), nil
}
