package api

import (
	"context"
	"crypto/ed25519"
	"net/http"

	"github.com/reportd/reportd/internal/webhook"
)

// WebhookKeyStore holds the clients' webhook signing keys.
type WebhookKeyStore interface {
	// WebhookPublicKeys returns the ed25519 public keys that sign a
	// client's webhooks now, rotation grace period included.
	WebhookPublicKeys(ctx context.Context, clientID string) ([]ed25519.PublicKey, error)
}

// webhookKeysMaxAge is how long a receiver may cache the key set. It is far
// below any rotation's grace period, so a cached set still holds a key that
// signs every webhook sent while it is cached.
const webhookKeysMaxAge = "300"

// handleWebhookKeys publishes the caller's ed25519 public keys as a JWKS, so
// a receiver verifies v1a signatures with keys it fetched itself. A client
// that signs with HMAC has none: its secret is never served.
func handleWebhookKeys(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		keys, err := d.WebhookKeys.WebhookPublicKeys(ctx, principalFrom(ctx).ClientID)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		w.Header().Set("Cache-Control", "private, max-age="+webhookKeysMaxAge)
		writeJSON(w, http.StatusOK, webhook.NewJWKS(keys))
	})
}
