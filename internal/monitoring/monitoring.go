package monitoring

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"
)

// DefaultRootPath is where the API mounts the dashboard.
const DefaultRootPath = "/monitoring"

// Options configure the dashboard.
type Options struct {
	// RedisConnOpt is asynq's Redis; asynqmon opens its own connections from it.
	RedisConnOpt asynq.RedisConnOpt
	// Token is OPERATOR_TOKEN. Empty disables the dashboard: New returns nil.
	Token string
	// ReadOnly forbids every change (pause, delete, run, archive) from the UI.
	ReadOnly bool
	// RootPath is the URL path the handler is mounted at; default /monitoring.
	RootPath string
	Logger   *slog.Logger
}

// Handler is the guarded dashboard. A nil *Handler answers 404 and closes
// without error, so a disabled dashboard needs no special casing.
type Handler struct {
	mon     *asynqmon.HTTPHandler
	guarded http.Handler
	token   [sha256.Size]byte
	logger  *slog.Logger
}

// New builds the dashboard, or returns nil when opts.Token is empty. The
// caller mounts it at RootPath + "/" and calls Close on shutdown.
func New(opts Options) (*Handler, error) {
	if opts.Token == "" {
		return nil, nil //nolint:nilnil // a nil *Handler is the disabled dashboard, as documented
	}
	if opts.RedisConnOpt == nil {
		return nil, errors.New("monitoring: RedisConnOpt is required")
	}
	// asynqmon panics on what it cannot use; say so as an error instead.
	probe, ok := opts.RedisConnOpt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("monitoring: unsupported redis connection %T", opts.RedisConnOpt)
	}
	_ = probe.Close()
	if opts.RootPath == "" {
		opts.RootPath = DefaultRootPath
	}
	if !strings.HasPrefix(opts.RootPath, "/") {
		return nil, fmt.Errorf("monitoring: root path %q must start with /", opts.RootPath)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	mon := asynqmon.New(asynqmon.Options{
		RootPath:         strings.TrimSuffix(opts.RootPath, "/"),
		RedisConnOpt:     opts.RedisConnOpt,
		PayloadFormatter: asynqmon.PayloadFormatterFunc(func(_ string, b []byte) string { return Redact(b) }),
		ResultFormatter:  asynqmon.ResultFormatterFunc(func(_ string, b []byte) string { return Redact(b) }),
		ReadOnly:         opts.ReadOnly,
	})
	h := &Handler{mon: mon, token: sha256.Sum256([]byte(opts.Token)), logger: opts.Logger}
	// Basic auth credentials ride along on cross-site requests, so a write
	// from another origin is refused even with them.
	h.guarded = h.authorize(http.NewCrossOriginProtection().Handler(mon))
	return h, nil
}

// ServeHTTP serves the dashboard to operators.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h.guarded.ServeHTTP(w, r)
}

// Close releases asynqmon's Redis connections.
func (h *Handler) Close() error {
	if h == nil {
		return nil
	}
	if err := h.mon.Close(); err != nil {
		return fmt.Errorf("close monitoring redis: %w", err)
	}
	return nil
}

// authorize admits a request that carries the operator token, as a bearer
// token or as the basic-auth password (any user name).
func (h *Handler) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		given, ok := credential(r)
		if !ok || !h.matches(given) {
			if ok {
				h.logger.WarnContext(r.Context(), "monitoring: wrong operator credentials",
					"remote_addr", r.RemoteAddr, "path", r.URL.Path)
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="reportd operators", charset="UTF-8"`)
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "operator credentials required", http.StatusUnauthorized)
			return
		}
		// The dashboard can change queues; nobody may frame it.
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "frame-ancestors 'none'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// matches compares hashes so neither the token's bytes nor its length leak
// through timing.
func (h *Handler) matches(given string) bool {
	sum := sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(sum[:], h.token[:]) == 1
}

func credential(r *http.Request) (string, bool) {
	if _, pass, ok := r.BasicAuth(); ok {
		return pass, true
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") && token != "" {
		return strings.TrimSpace(token), true
	}
	return "", false
}
