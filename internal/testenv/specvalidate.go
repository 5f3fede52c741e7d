package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/reportd/reportd"
)

// SpecValidator checks HTTP exchanges and webhook messages against
// openapi.yaml, so the end-to-end suite fails when the code and the contract
// drift apart.
//
// A response must match the spec exactly: a documented status, its declared
// headers and a body that fits the schema. A request that breaks the spec is
// fine as long as the server refused it (4xx or 5xx): tests send bad requests
// on purpose. A request the spec allows but the server calls malformed (400 or
// 415) means the spec is too loose, and is reported too.
type SpecValidator struct {
	doc    *openapi3.T
	router routers.Router
}

// NewSpecValidator returns the validator of openapi.yaml; a broken spec
// fails tb. The spec is loaded and validated (examples included) once per test
// binary, which takes about 130 ms, so calling this per request is cheap.
func NewSpecValidator(tb testing.TB) *SpecValidator {
	tb.Helper()
	v, err := loadSpec()
	if err != nil {
		tb.Fatalf("openapi.yaml: %v", err)
	}
	return v
}

// loadSpec is read-only once loaded: validation never changes the document.
var loadSpec = sync.OnceValues(func() (*SpecValidator, error) {
	return newSpecValidator(context.Background(), reportd.OpenAPI)
})

func newSpecValidator(ctx context.Context, spec []byte) (*SpecValidator, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("load spec: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validate spec: %w", err)
	}
	// Tests listen on random ports: match paths on any host.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route spec: %w", err)
	}
	return &SpecValidator{doc: doc, router: router}, nil
}

// Check reports, with tb.Errorf, every way the exchange departs from the
// spec. It reads only the bodies passed in, never req.Body or resp.Body.
func (v *SpecValidator) Check(tb testing.TB, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	tb.Helper()
	for _, err := range v.check(req, reqBody, resp, respBody) {
		tb.Errorf("openapi.yaml: %s %s answered %d: %s\nresponse body: %s",
			req.Method, req.URL.RequestURI(), resp.StatusCode, clip([]byte(err.Error())), clip(respBody))
	}
}

// check returns the exchange's departures from the spec.
func (v *SpecValidator) check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) []error {
	ctx := context.Background()
	// A copy, so that validation (which reads and may rewrite the body) leaves
	// the caller's request alone.
	req = req.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(reqBody))

	route, pathParams, err := v.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound) && strings.HasPrefix(req.URL.Path, "/monitoring/"):
		return nil // asynqmon's own pages and API are outside the contract
	case errors.Is(err, routers.ErrPathNotFound), errors.Is(err, routers.ErrMethodNotAllowed):
		return v.checkUnrouted(resp, respBody, err)
	case err != nil:
		return []error{fmt.Errorf("find route: %w", err)}
	}

	in := &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: pathParams,
		Route:      route,
		Options: &openapi3filter.Options{
			MultiError:          true,
			SkipSettingDefaults: true,
			AuthenticationFunc:  credentialsPresent,
		},
	}
	var errs []error
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	if reqErr == nil && len(reqBody) > 0 && !json.Valid(reqBody) {
		// The decoder reads the first JSON value only; trailing data is not JSON either.
		reqErr = errors.New("the body is not one JSON value")
	}
	switch {
	case reqErr != nil && resp.StatusCode < 400:
		errs = append(errs, fmt.Errorf("the server accepted a request the spec rejects: %w", reqErr))
	case reqErr == nil && (resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnsupportedMediaType):
		errs = append(errs, errors.New("the server called malformed a request the spec allows: the spec is too loose"))
	}

	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options:                &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		errs = append(errs, fmt.Errorf("the response breaks the spec: %w", err))
	}
	return errs
}

// checkUnrouted accepts the problem+json 404 or 405 that the API gives a
// path or method the spec does not list; anything else means the spec lacks
// an operation.
func (v *SpecValidator) checkUnrouted(resp *http.Response, respBody []byte, routeErr error) []error {
	want := http.StatusNotFound
	if errors.Is(routeErr, routers.ErrMethodNotAllowed) {
		want = http.StatusMethodNotAllowed
	}
	if resp.StatusCode != want {
		return []error{fmt.Errorf("the spec has no such operation (%w), yet the server answered %d", routeErr, resp.StatusCode)}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		return []error{fmt.Errorf("%d with Content-Type %q, want application/problem+json", want, ct)}
	}
	if err := v.validateJSON("Problem", respBody); err != nil {
		return []error{fmt.Errorf("%d body is not a Problem: %w", want, err)}
	}
	return nil
}

// validateJSON checks body against a schema of components.schemas.
func (v *SpecValidator) validateJSON(schema string, body []byte) error {
	ref := v.doc.Components.Schemas[schema]
	if ref == nil {
		return fmt.Errorf("no schema %s in the spec", schema)
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return fmt.Errorf("decode JSON: %w", err)
	}
	return ref.Value.VisitJSON(value, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors())
}

// CheckWebhook reports, with tb.Errorf, how a webhook message departs from
// the spec's webhooks[event] (its Standard Webhooks headers and its body).
func (v *SpecValidator) CheckWebhook(tb testing.TB, event string, header http.Header, body []byte) {
	tb.Helper()
	if err := v.checkWebhook(event, header, body); err != nil {
		tb.Errorf("openapi.yaml: webhook %s: %s\nbody: %s", event, clip([]byte(err.Error())), clip(body))
	}
}

func (v *SpecValidator) checkWebhook(event string, header http.Header, body []byte) error {
	item := v.doc.Webhooks[event]
	if item == nil || item.Post == nil {
		return fmt.Errorf("the spec documents no webhook %q", event)
	}
	ctx := context.Background()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header = header.Clone()
	route := &routers.Route{Spec: v.doc, Path: event, PathItem: item, Method: http.MethodPost, Operation: item.Post}
	return openapi3filter.ValidateRequest(ctx, &openapi3filter.RequestValidationInput{
		Request: req,
		Route:   route,
		Options: &openapi3filter.Options{MultiError: true, SkipSettingDefaults: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	})
}

// Transport wraps base (http.DefaultTransport when nil) so that every
// exchange through it is checked against the spec. Callers still read the
// whole response body as usual.
func (v *SpecValidator) Transport(tb testing.TB, base http.RoundTripper) http.RoundTripper {
	tb.Helper()
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		req, reqBody, err := bufferRequest(req)
		if err != nil {
			return nil, err
		}
		resp, err := base.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		respBody, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read response of %s %s: %w", req.Method, req.URL.Path, err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(respBody))
		v.Check(tb, req, reqBody, resp, respBody)
		return resp, nil
	})
}

// Client returns a copy of base whose transport checks every exchange.
func (v *SpecValidator) Client(tb testing.TB, base *http.Client) *http.Client {
	tb.Helper()
	c := *base
	c.Transport = v.Transport(tb, base.Transport)
	return &c
}

// bufferRequest returns the request body's bytes and a request that can
// still send them.
func bufferRequest(req *http.Request) (*http.Request, []byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil, nil
	}
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return nil, nil, fmt.Errorf("copy request body: %w", err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			return nil, nil, fmt.Errorf("copy request body: %w", err)
		}
		return req, b, nil
	}
	b, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("read request body: %w", err)
	}
	req = req.Clone(req.Context())
	req.Body = io.NopCloser(bytes.NewReader(b))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return req, b, nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// credentialsPresent stands in for authentication: the spec only says which
// kind of credentials must be sent; whether they are valid is the server's
// business.
func credentialsPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	auth := in.RequestValidationInput.Request.Header.Get("Authorization")
	want := in.SecurityScheme.Scheme // "bearer" or "basic"
	if got, _, ok := strings.Cut(auth, " "); !ok || !strings.EqualFold(got, want) {
		return fmt.Errorf("no %s credentials", want)
	}
	return nil
}

func clip(b []byte) string {
	const limit = 2 << 10
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}
