package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/domain"
)

// ClientScopes returns every scope the client's unrevoked API keys carry,
// or domain.ErrNotFound when there is no such client. Event ingestion from
// NATS names a client instead of presenting a key, and asks this whether
// the client may write events.
func (s *Store) ClientScopes(ctx context.Context, clientID string) ([]string, error) {
	var scopes []string
	err := s.pool.QueryRow(ctx, `SELECT coalesce(array_agg(DISTINCT scope) FILTER (WHERE scope IS NOT NULL), '{}')
		FROM clients c
		LEFT JOIN api_keys k ON k.client_id = c.id AND k.revoked_at IS NULL
		LEFT JOIN LATERAL unnest(k.scopes) AS scope ON true
		WHERE c.id = $1
		GROUP BY c.id`, clientID).Scan(&scopes)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("client %s: %w", clientID, domain.ErrNotFound)
	}
	if err != nil {
		return nil, classify(fmt.Errorf("load scopes of client %s: %w", clientID, err))
	}
	return scopes, nil
}
