package webhook

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Defaults of [ClientConfig].
const (
	DefaultTimeout   = 15 * time.Second
	DefaultUserAgent = "reportd-webhooks/1"
)

// Response handling limits.
const (
	// MaxResponseBody is how much of a receiver's response body is kept.
	MaxResponseBody = 4 << 10
	// drainLimit is how much more is read and discarded so the connection can
	// be reused; a longer body costs a new connection instead.
	drainLimit = 64 << 10
	// maxRetryAfter bounds a parsed Retry-After; the schedule caps it far
	// lower, this only keeps the arithmetic sane.
	maxRetryAfter = 30 * 24 * time.Hour
)

// ClientConfig configures a [Client]. The zero value is production-ready.
type ClientConfig struct {
	// Timeout bounds one attempt, from dialling to reading the kept part of
	// the response body. Default [DefaultTimeout].
	Timeout time.Duration
	// AllowPrivateNetworks is the dev/test opt-in that allows loopback and
	// private destinations and plain http. Never set it in production.
	AllowPrivateNetworks bool
	// UserAgent is sent with every request. Default [DefaultUserAgent].
	UserAgent string
}

// Client delivers webhook messages, one attempt per [Client.Send]. It keeps
// connections alive between attempts and is safe for concurrent use.
type Client struct {
	hc           *http.Client
	timeout      time.Duration
	userAgent    string
	allowPrivate bool
}

// NewClient returns a delivery client. Unless cfg.AllowPrivateNetworks is
// set, it refuses plain http and every connection to an address that
// [IsBlockedAddr] rejects.
func NewClient(cfg ClientConfig) *Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !cfg.AllowPrivateNetworks {
		dialer.Control = guardControl
	}
	transport := &http.Transport{
		// No proxy: a proxy would make the guard check the proxy's address
		// instead of the receiver's.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           512,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &Client{
		hc: &http.Client{
			Transport: transport,
			// A redirect is a failed attempt, and following it could lead
			// anywhere, so the 3xx response itself is returned.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		timeout:      cmp.Or(max(cfg.Timeout, 0), DefaultTimeout),
		userAgent:    cmp.Or(cfg.UserAgent, DefaultUserAgent),
		allowPrivate: cfg.AllowPrivateNetworks,
	}
}

// CloseIdleConnections closes kept-alive connections; call it on shutdown.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Message is one webhook to deliver.
type Message struct {
	// ID is the webhook-id: stable across every attempt and replay.
	ID string
	// URL is the receiver's endpoint.
	URL string
	// Body is the JSON payload, sent as is.
	Body []byte
	// Secrets sign the message, one signature each (several during rotation):
	// HMAC secrets and ed25519 keys alike.
	Secrets SigningKeys
}

// Outcome classifies an attempt.
type Outcome string

// Outcomes of an attempt.
const (
	// OutcomeDelivered: the receiver answered 2xx.
	OutcomeDelivered Outcome = "delivered"
	// OutcomeFailed: any other status (3xx included) or a network error; retry.
	OutcomeFailed Outcome = "failed"
	// OutcomeTimeout: the attempt ran past its timeout; retry.
	OutcomeTimeout Outcome = "timeout"
	// OutcomeGone: the receiver answered 410; stop and disable the URL.
	OutcomeGone Outcome = "gone"
	// OutcomeBlocked: the SSRF guard refused the URL or address, or the URL
	// is invalid; permanent.
	OutcomeBlocked Outcome = "blocked"
)

// Retryable reports whether another attempt may succeed.
func (o Outcome) Retryable() bool { return o == OutcomeFailed || o == OutcomeTimeout }

// Result describes one attempt.
type Result struct {
	Outcome    Outcome
	StartedAt  time.Time
	StatusCode int           // 0 when no response arrived
	Latency    time.Duration // until the response headers arrived, or the attempt failed
	RetryAfter time.Duration // from Retry-After on 429 and 503, else 0
	Body       []byte        // the first MaxResponseBody bytes of the response body
	Err        error         // nil when delivered; short and free of secrets otherwise
}

// Send makes one delivery attempt. It signs the message with a fresh
// webhook-timestamp, POSTs it as application/json and classifies the answer.
// A cancelled ctx ends the attempt as failed, with Err wrapping ctx's error.
func (c *Client) Send(ctx context.Context, m Message) Result {
	start := time.Now()
	res := Result{StartedAt: start}
	fail := func(o Outcome, err error) Result {
		res.Outcome, res.Err, res.Latency = o, err, time.Since(start)
		return res
	}

	if err := ValidateURL(m.URL, c.allowPrivate); err != nil {
		return fail(OutcomeBlocked, err)
	}
	sig, err := SignatureHeader(m.Secrets, m.ID, start, m.Body)
	if err != nil {
		return fail(OutcomeFailed, err)
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		return fail(OutcomeBlocked, fmt.Errorf("%w: build request: %w", ErrBlocked, unwrapURLError(err)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set(HeaderID, m.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(start.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)

	resp, err := c.hc.Do(req)
	if err != nil {
		err = unwrapURLError(err)
		switch {
		case errors.Is(err, ErrBlocked):
			return fail(OutcomeBlocked, err)
		case errors.Is(ctx.Err(), context.DeadlineExceeded), isTimeout(err):
			return fail(OutcomeTimeout, fmt.Errorf("no response within %s: %w", c.timeout, err))
		default:
			return fail(OutcomeFailed, err)
		}
	}
	defer resp.Body.Close()
	res.Latency = time.Since(start)
	res.StatusCode = resp.StatusCode
	res.Body = readBody(resp.Body)

	switch code := resp.StatusCode; {
	case code >= 200 && code <= 299:
		res.Outcome = OutcomeDelivered
	case code == http.StatusGone:
		res.Outcome, res.Err = OutcomeGone, statusError(code)
	case code >= 300 && code <= 399:
		res.Outcome, res.Err = OutcomeFailed, fmt.Errorf("%w (redirects are not followed)", statusError(code))
	default:
		res.Outcome, res.Err = OutcomeFailed, statusError(code)
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
	}
	return res
}

// readBody keeps the first MaxResponseBody bytes, then drains a bounded
// remainder so that closing the body returns the connection to the pool.
func readBody(body io.Reader) []byte {
	kept, _ := io.ReadAll(io.LimitReader(body, MaxResponseBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(body, drainLimit))
	if len(kept) == 0 {
		return nil
	}
	return kept
}

func statusError(code int) error {
	if text := http.StatusText(code); text != "" {
		return fmt.Errorf("receiver answered %d %s", code, text)
	}
	return fmt.Errorf("receiver answered %d", code)
}

// parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110 §10.2.3);
// 0 when absent, malformed or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		switch {
		case v[0] == '-' || v[0] == '+': // delay-seconds has no sign
			return 0
		case err != nil || secs > int64(maxRetryAfter/time.Second):
			return maxRetryAfter
		default:
			return time.Duration(secs) * time.Second
		}
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}

// unwrapURLError drops net/http's *url.Error, whose message repeats the whole
// URL (a query string may carry the receiver's token).
func unwrapURLError(err error) error {
	if uerr, ok := errors.AsType[*url.Error](err); ok {
		return uerr.Err
	}
	return err
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
