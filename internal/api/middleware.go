package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/reportd/reportd/internal/apikey"
	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
)

type ctxKey int

const (
	principalKey ctxKey = iota
	requestIDKey
	accessLogKey
)

// accessLog is what inner handlers tell the access log, which wraps them
// and so cannot read the context they derive (auth adds the principal).
type accessLog struct {
	clientID string
}

// Scopes an API key may carry.
const (
	ScopeReports     = "reports"
	ScopeEventsWrite = "events:write"
)

func principalFrom(ctx context.Context) domain.Principal {
	p, _ := ctx.Value(principalKey).(domain.Principal)
	return p
}

// RequestID returns the request's id, taken from X-Request-ID or minted.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// withRequestID carries X-Request-ID through the request and echoes it.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !safeRequestID.MatchString(id) {
			id = ids.New("req")
		}
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// statusRecorder remembers the status code for logs and metrics.
type statusRecorder struct {
	http.ResponseWriter

	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// HTTPObserver records request metrics.
type HTTPObserver interface {
	Observe(route, method string, status int, d time.Duration)
}

// withLogging logs each request with its route template, status and time,
// and feeds the metrics. Health and metrics probes log at debug.
func withLogging(logger *slog.Logger, obs HTTPObserver) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w}
			entry := &accessLog{}
			next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), accessLogKey, entry)))
			route := "unmatched"
			if cr := mux.CurrentRoute(r); cr != nil {
				if tpl, err := cr.GetPathTemplate(); err == nil {
					route = tpl
				}
			}
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			d := time.Since(start)
			if obs != nil {
				obs.Observe(route, r.Method, rec.status, d)
			}
			level := slog.LevelInfo
			if strings.HasPrefix(route, "/healthz") || strings.HasPrefix(route, "/readyz") || strings.HasPrefix(route, "/metrics") ||
				strings.HasPrefix(route, "/monitoring") { // the dashboard polls every few seconds
				level = slog.LevelDebug
			}
			logger.Log(r.Context(), level, "http request", "request_id", RequestID(r.Context()), "method", r.Method,
				"route", route, "status", rec.status, "duration_ms", float64(d.Microseconds())/1000,
				"client_id", entry.clientID)
		})
	}
}

// withRecovery answers a panic with problem+json and logs its stack. Tests
// prove no client input reaches it; it is the last line of defence.
func withRecovery(logger *slog.Logger) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
						panic(v) // net/http's own way to abort a response
					}
					logger.ErrorContext(r.Context(), "handler panicked", "request_id", RequestID(r.Context()),
						"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
					writeProblem(w, problem(http.StatusInternalServerError, "internal-error", "Internal error", "Something went wrong on our side."))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// KeyStore resolves API keys.
type KeyStore interface {
	LookupKey(ctx context.Context, keyID string) (domain.Principal, error)
}

func errUnauthenticated() *Problem {
	return problem(http.StatusUnauthorized, "unauthenticated", "Unauthenticated", "Send a valid API key as 'Authorization: Bearer <key>'.")
}

// authenticate resolves the bearer key to its client. The key id finds the
// row; the hashes are compared in constant time.
func authenticate(logger *slog.Logger, keys KeyStore) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			plain, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="reportd"`)
				writeProblem(w, errUnauthenticated())
				return
			}
			keyID, hash, err := apikey.Parse(strings.TrimSpace(plain))
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="reportd", error="invalid_token"`)
				writeProblem(w, errUnauthenticated())
				return
			}
			p, err := keys.LookupKey(r.Context(), keyID)
			if err == nil && !apikey.Equal(hash, p.Hash) {
				err = domain.ErrNotFound
			}
			if err != nil {
				if !isNotFound(err) {
					writeError(w, r, logger, err)
					return
				}
				w.Header().Set("WWW-Authenticate", `Bearer realm="reportd", error="invalid_token"`)
				writeProblem(w, errUnauthenticated())
				return
			}
			if entry, ok := r.Context().Value(accessLogKey).(*accessLog); ok {
				entry.clientID = p.ClientID
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
		})
	}
}

// requireScope answers 403 unless the authenticated key carries scope.
func requireScope(scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(principalFrom(r.Context()).Scopes, scope) {
			writeProblem(w, problem(http.StatusForbidden, "insufficient-scope", "Insufficient scope",
				fmt.Sprintf("This API key lacks the %q scope.", scope)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// keyCache remembers resolved keys briefly, so a busy client does not cost
// a database round trip per request. A revoked key or a changed client
// setting is seen within the TTL.
type keyCache struct {
	keys KeyStore
	ttl  time.Duration
	now  func() time.Time

	mu      sync.Mutex
	entries map[string]cachedKey
}

type cachedKey struct {
	p       domain.Principal
	expires time.Time
}

const maxCachedKeys = 10000

func newKeyCache(keys KeyStore, ttl time.Duration, now func() time.Time) *keyCache {
	if ttl == 0 {
		ttl = 5 * time.Second
	}
	return &keyCache{keys: keys, ttl: ttl, now: now, entries: map[string]cachedKey{}}
}

func (c *keyCache) LookupKey(ctx context.Context, keyID string) (domain.Principal, error) {
	c.mu.Lock()
	e, ok := c.entries[keyID]
	c.mu.Unlock()
	if ok && c.now().Before(e.expires) {
		return e.p, nil
	}
	p, err := c.keys.LookupKey(ctx, keyID)
	if err != nil {
		return p, err // failures are not cached: a new key works at once
	}
	c.mu.Lock()
	if len(c.entries) >= maxCachedKeys {
		clear(c.entries)
	}
	c.entries[keyID] = cachedKey{p: p, expires: c.now().Add(c.ttl)}
	c.mu.Unlock()
	return p, nil
}

func isNotFound(err error) bool { return errors.Is(err, domain.ErrNotFound) }
