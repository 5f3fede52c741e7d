package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/reportd/reportd/internal/webhook"
)

// webhookListen runs a demo receiver: it verifies every webhook's signature
// the way a client's server should, prints one JSON line per webhook, and
// answers 204 (or 400 when the signature does not verify).
func (c *cli) webhookListen(ctx context.Context, args []string) error {
	fs := c.flags("webhook listen")
	addr := fs.String("addr", "127.0.0.1:9999", "address to listen on")
	secret := fs.String("secret", c.getenv("REPORTD_WEBHOOK_SECRET"), "the client's webhook secret, whsec_..., or its ed25519 public key, whpk_... (default: $REPORTD_WEBHOOK_SECRET)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := webhook.CheckVerifyingKey(*secret); err != nil {
		return fmt.Errorf("webhook listen: --secret: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *addr)
	if err != nil {
		return fmt.Errorf("webhook listen: %w", err)
	}
	var mu sync.Mutex
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		line := map[string]any{"received_at": time.Now().UTC(), "webhook_id": r.Header.Get("webhook-id")}
		if err := webhook.Verify(*secret, r.Header, body, time.Now()); err != nil {
			line["verified"] = false
			line["error"] = err.Error()
			w.WriteHeader(http.StatusBadRequest)
		} else {
			line["verified"] = true
			var event struct {
				Type string `json:"type"`
				Data struct {
					ID     string `json:"id"`
					Status string `json:"status"`
					Result *struct {
						SHA256    string `json:"sha256"`
						SizeBytes int64  `json:"size_bytes"`
					} `json:"result"`
				} `json:"data"`
			}
			if json.Unmarshal(body, &event) == nil {
				line["type"], line["report_id"], line["status"] = event.Type, event.Data.ID, event.Data.Status
				if event.Data.Result != nil {
					line["sha256"], line["size_bytes"] = event.Data.Result.SHA256, event.Data.Result.SizeBytes
				}
			}
			w.WriteHeader(http.StatusNoContent)
		}
		mu.Lock()
		defer mu.Unlock()
		if err := json.NewEncoder(c.stdout).Encode(line); err != nil {
			fmt.Fprintln(c.stderr, "webhook listen: print:", err)
		}
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(c.stderr, "webhook listen: verifying webhooks on http://%s/\n", ln.Addr())
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(ln) }()
	select {
	case err := <-errs:
		return fmt.Errorf("webhook listen: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("webhook listen: %w", err)
	}
	return nil
}
