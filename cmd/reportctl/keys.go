package main

import (
	"context"
	"time"

	"github.com/reportd/reportd/internal/postgres"
)

// keysReencrypt seals every stored webhook signing key under the current
// WEBHOOK_KEY_ENCRYPTION_KEY: HMAC secrets stored before a key was set, and
// keys sealed under one now listed in WEBHOOK_KEY_ENCRYPTION_KEYS. Once it
// has run, the old keys can be dropped from that list.
func (c *cli) keysReencrypt(ctx context.Context, args []string) error {
	fs := c.flags("keys reencrypt")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, pool, _, err := c.database(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	start := time.Now()
	n, err := postgres.NewStore(pool).WithKeyring(cfg.WebhookKeyring).ReencryptSigningKeys(ctx)
	if err != nil {
		return err
	}
	return c.printJSON(map[string]any{"resealed": n, "key_id": cfg.WebhookKeyring.CurrentID(), "seconds": time.Since(start).Seconds()})
}
