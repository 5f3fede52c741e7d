package api

import (
	"context"
	"net/http"
	"sync"
	"time"
)

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// handleReadyz checks every dependency at once, each with a short timeout,
// and names the ones that fail.
func handleReadyz(d Deps) http.Handler {
	checks := map[string]func(context.Context) error{
		"postgres": d.Database.Ping,
		"redis":    d.Queue.Ping,
		"s3":       d.Files.Ping,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		out := readiness{Status: "ok", Checks: map[string]string{}}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for name, check := range checks {
			wg.Go(func() {
				result := "ok"
				if err := check(ctx); err != nil {
					result = "unavailable"
					d.Logger.WarnContext(ctx, "readiness check failed", "dependency", name, "err", err)
				}
				mu.Lock()
				out.Checks[name] = result
				mu.Unlock()
			})
		}
		wg.Wait()
		status := http.StatusOK
		for _, v := range out.Checks {
			if v != "ok" {
				out.Status = "unavailable"
				status = http.StatusServiceUnavailable
				w.Header().Set("Retry-After", "5")
			}
		}
		writeJSON(w, status, out)
	})
}

func handleOpenAPI(spec []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(spec)
	})
}
