package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/reportd/reportd/internal/apikey"
	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/orderevents"
)

// errPostgresText is what Postgres says about text it cannot store.
var errPostgresText = errors.New(`ERROR: invalid byte sequence for encoding "UTF8": 0x00 (SQLSTATE 22021)`)

// storable fails the way Postgres does on NUL or invalid UTF-8, so a value
// that reaches a store unchecked shows up as a 500.
func storable(ss ...string) error {
	for _, s := range ss {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return errPostgresText
		}
	}
	return nil
}

// edgeStore is a hand-written fake of every store the API uses. It holds
// nothing: every lookup is not found, every write succeeds.
type edgeStore struct {
	key        apikey.Key
	AppendFunc func(ctx context.Context, clientID string, events []orderevents.Event) (domain.AppendResult, error)
}

const edgeClient = "cli_edge"

func (s *edgeStore) LookupKey(_ context.Context, keyID string) (domain.Principal, error) {
	if keyID != s.key.ID {
		return domain.Principal{}, domain.ErrNotFound
	}
	return domain.Principal{ClientID: edgeClient, Scopes: []string{ScopeReports, ScopeEventsWrite}, Hash: s.key.Hash,
		Client: domain.Client{MaxInFlight: -1}}, nil
}

func (s *edgeStore) CreateReport(_ context.Context, r domain.NewReport, _ int, _ *domain.IdempotencyKey,
	respond func(domain.Report) (int, []byte, error)) (domain.Report, error) {
	if err := storable(r.ID, string(r.Metadata), r.WebhookURL, r.Params.CustomerID, r.Params.MerchantID, r.Params.From, r.Params.To); err != nil {
		return domain.Report{}, err
	}
	rep := domain.Report{ID: r.ID, ClientID: r.ClientID, Type: r.Type, Format: r.Format, Params: r.Params,
		Metadata: r.Metadata, Status: domain.StatusQueued, CreatedAt: time.Now()}
	if _, _, err := respond(rep); err != nil {
		return domain.Report{}, err
	}
	return rep, nil
}

func (s *edgeStore) GetReport(_ context.Context, _, id string) (domain.Report, error) {
	if err := storable(id); err != nil {
		return domain.Report{}, err
	}
	return domain.Report{}, domain.ErrNotFound
}

func (s *edgeStore) ListReports(_ context.Context, _ string, f domain.ListFilter) ([]domain.Report, error) {
	return nil, storable(f.AfterID, string(f.Status), string(f.Type))
}

func (s *edgeStore) CancelReport(_ context.Context, _, id string) (domain.Report, []string, error) {
	if err := storable(id); err != nil {
		return domain.Report{}, nil, err
	}
	return domain.Report{}, nil, domain.ErrNotFound
}

func (s *edgeStore) CreateEndpoint(_ context.Context, e domain.Endpoint, secret string) (domain.Endpoint, error) {
	if err := storable(append([]string{e.URL, e.Description, secret}, e.Events...)...); err != nil {
		return domain.Endpoint{}, err
	}
	e.Object, e.Status, e.Signing = "webhook_endpoint", domain.EndpointActive, domain.SigningClient
	return e, nil
}

func (s *edgeStore) GetEndpoint(_ context.Context, _, id string) (domain.Endpoint, error) {
	if err := storable(id); err != nil {
		return domain.Endpoint{}, err
	}
	return domain.Endpoint{}, domain.ErrNotFound
}

func (s *edgeStore) ListEndpoints(context.Context, string) ([]domain.Endpoint, error) {
	return nil, nil
}

func (s *edgeStore) UpdateEndpoint(_ context.Context, _, id string, c domain.EndpointChange) (domain.Endpoint, error) {
	fields := []string{id}
	for _, p := range []*string{c.URL, c.Description} {
		if p != nil {
			fields = append(fields, *p)
		}
	}
	if c.Events != nil {
		fields = append(fields, *c.Events...)
	}
	if err := storable(fields...); err != nil {
		return domain.Endpoint{}, err
	}
	return domain.Endpoint{}, domain.ErrNotFound
}

func (s *edgeStore) DeleteEndpoint(_ context.Context, _, id string) error {
	if err := storable(id); err != nil {
		return err
	}
	return domain.ErrNotFound
}

func (s *edgeStore) ClaimKey(_ context.Context, k domain.IdempotencyKey) (*domain.StoredResponse, error) {
	return nil, storable(k.Key, k.Endpoint)
}

func (s *edgeStore) CompleteKey(context.Context, domain.IdempotencyKey, int, []byte) error {
	return nil
}
func (s *edgeStore) ReleaseKey(context.Context, domain.IdempotencyKey) error { return nil }

func (s *edgeStore) ReportDeliveries(_ context.Context, _, reportID string) ([]domain.Delivery, error) {
	if err := storable(reportID); err != nil {
		return nil, err
	}
	return nil, domain.ErrNotFound
}

func (s *edgeStore) ListDeliveries(_ context.Context, _ string, f domain.DeliveryFilter) ([]domain.Delivery, error) {
	return nil, storable(f.AfterID, string(f.Status))
}

func (s *edgeStore) Redeliver(_ context.Context, _, id string) (domain.Delivery, error) {
	if err := storable(id); err != nil {
		return domain.Delivery{}, err
	}
	return domain.Delivery{}, domain.ErrNotFound
}

func (s *edgeStore) ReplayDeliveries(_ context.Context, _ string, f domain.ReplayFilter) ([]domain.WorkRef, error) {
	if f.Limit < 1 || f.Limit > maxReplayDeliveries {
		return nil, fmt.Errorf("replay limit %d reached the store", f.Limit)
	}
	if f.Until != nil && !f.Until.After(f.Since) {
		return nil, fmt.Errorf("replay window [%s, %s) reached the store", f.Since, f.Until)
	}
	return nil, storable(string(f.Status), f.EndpointID)
}

func (s *edgeStore) Append(ctx context.Context, clientID string, events []orderevents.Event) (domain.AppendResult, error) {
	for _, e := range events {
		if err := storable(e.EventID, e.OrderID, e.Type, string(e.Data)); err != nil {
			return domain.AppendResult{}, err
		}
	}
	if s.AppendFunc != nil {
		return s.AppendFunc(ctx, clientID, events)
	}
	return domain.AppendResult{Accepted: len(events), Position: int64(len(events))}, nil
}

func (s *edgeStore) Projections(context.Context) ([]domain.ProjectionStatus, error) { return nil, nil }

func (s *edgeStore) Ping(context.Context) error { return nil }
func (s *edgeStore) Replay(context.Context, []domain.WorkRef, bool, string, func(int)) error {
	return nil
}
func (s *edgeStore) QueueLatency(context.Context) (time.Duration, error) { return 0, nil }
func (s *edgeStore) PresignGet(context.Context, string, time.Duration) (string, time.Time, error) {
	return "https://s3.example/x", time.Now().Add(time.Hour), nil
}

// edgeQueue adapts edgeStore to Queue, whose CancelReport and Redeliver
// clash with the store's.
type edgeQueue struct{ *edgeStore }

func (q edgeQueue) CancelReport(context.Context, string) error      { return nil }
func (q edgeQueue) Redeliver(context.Context, domain.WorkRef) error { return nil }

type edgeServer struct {
	h     http.Handler
	store *edgeStore
	logs  *bytes.Buffer
}

func newEdgeServer(tb testing.TB) *edgeServer {
	tb.Helper()
	store := &edgeStore{key: apikey.New()}
	logs := &bytes.Buffer{}
	d := Deps{
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Keys: store, Reports: store, Idempotency: store,
		Deliveries: store, Database: store, Queue: edgeQueue{store}, Files: store, Events: store, Endpoints: store,
		Settings: Settings{MaxReportRange: 1098 * 24 * time.Hour, MaxWait: time.Second},
	}
	return &edgeServer{h: NewServer(d), store: store, logs: logs}
}

// do sends a request with a raw (already escaped) path and query.
func (s *edgeServer) do(tb testing.TB, method, target, body string, headers ...string) *httptest.ResponseRecorder {
	tb.Helper()
	u, err := url.ParseRequestURI(target)
	if err != nil {
		tb.Fatalf("bad target %q: %v", target, err)
	}
	r := httptest.NewRequest(method, "/", strings.NewReader(body))
	r.URL, r.RequestURI = u, target
	r.Header.Set("Authorization", "Bearer "+s.store.key.Plain)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header[headers[i]] = append(r.Header[headers[i]], headers[i+1])
	}
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, r)
	return w
}

// clientError fails unless w is a 4xx problem+json.
func clientError(tb testing.TB, w *httptest.ResponseRecorder, what string) Problem {
	tb.Helper()
	var p Problem
	if w.Code < 400 || w.Code >= 500 {
		tb.Fatalf("%s: status %d, want a 4xx: %s", what, w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		tb.Fatalf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != w.Code {
		tb.Fatalf("%s: problem body %s (%v)", what, w.Body, err)
	}
	return p
}

func names(p Problem, field string) bool {
	for _, fe := range p.Errors {
		if fe.Field == field {
			return true
		}
	}
	return false
}

// idRoutes are every route with an {id}.
var idRoutes = []struct{ method, path string }{
	{http.MethodGet, "/v1/reports/{id}"},
	{http.MethodGet, "/v1/reports/{id}/download"},
	{http.MethodPost, "/v1/reports/{id}/cancel"},
	{http.MethodGet, "/v1/reports/{id}/deliveries"},
	{http.MethodPost, "/v1/deliveries/{id}/redeliver"},
	{http.MethodGet, "/v1/webhook-endpoints/{id}"},
	{http.MethodPatch, "/v1/webhook-endpoints/{id}"},
	{http.MethodDelete, "/v1/webhook-endpoints/{id}"},
}

// An id that cannot exist is not found, whatever bytes it holds; the store
// never sees it.
func TestHostilePathIDsAreNotFound(t *testing.T) {
	s := newEdgeServer(t)
	for _, id := range []string{
		"rep_%00x", "rep_%FFx", "msg_%00x", "msg_%FFx", "ep_%00x", "ep_" + strings.Repeat("a", 25) + "%FF", "ep_" + strings.Repeat("a", 27), "%ED%A0%80", "rep_" + strings.Repeat("a", 25) + "%00",
		"rep_" + strings.Repeat("A", 26), "rep_" + strings.Repeat("1", 26), "rep_" + strings.Repeat("a", 27),
		"x", "rep_", "%20", strings.Repeat("a", 5000), "rep_abcdefghijklmnopqrstuvwxy%C3%A9",
	} {
		for _, rt := range idRoutes {
			target := strings.Replace(rt.path, "{id}", id, 1)
			p := clientError(t, s.do(t, rt.method, target, ""), rt.method+" "+target)
			if p.Status != http.StatusNotFound {
				t.Errorf("%s %.60s: %d, want 404", rt.method, target, p.Status)
			}
		}
	}
	// A well-shaped id reaches the store, which does not know it.
	for _, rt := range idRoutes {
		prefix := "rep_"
		switch {
		case strings.HasPrefix(rt.path, "/v1/deliveries"):
			prefix = "msg_"
		case strings.HasPrefix(rt.path, "/v1/webhook-endpoints"):
			prefix = "ep_"
		}
		body := ""
		if rt.method == http.MethodPatch {
			body = `{"description":"x"}`
		}
		target := strings.Replace(rt.path, "{id}", prefix+strings.Repeat("a", 26), 1)
		if p := clientError(t, s.do(t, rt.method, target, body), target); p.Status != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404", rt.method, target, p.Status)
		}
	}
}

func TestHostileQueriesNameTheParameter(t *testing.T) {
	s := newEdgeServer(t)
	cursor := func(raw string) string { return url.QueryEscape(base64URL(raw)) }
	for _, tc := range []struct{ target, field string }{
		{"/v1/reports?cursor=" + cursor("123:rep_\x00"), "cursor"},
		{"/v1/reports?cursor=" + cursor("123:rep_\xff\xfe"), "cursor"},
		{"/v1/reports?cursor=" + cursor("garbage"), "cursor"},
		{"/v1/reports?cursor=" + cursor("-5:rep_"+strings.Repeat("a", 26)), "cursor"},
		{"/v1/reports?cursor=" + cursor("123:msg_"+strings.Repeat("a", 26)), "cursor"},
		{"/v1/reports?cursor=" + strings.Repeat("A", 200), "cursor"},
		{"/v1/deliveries?cursor=" + cursor("123:msg_\x00"), "cursor"},
		{"/v1/deliveries?cursor=" + cursor("123:rep_"+strings.Repeat("a", 26)), "cursor"},
		{"/v1/reports?status=%00", "status"},
		{"/v1/reports?type=%FF", "type"},
		{"/v1/reports?limit=0", "limit"},
		{"/v1/deliveries?status=%00", "status"},
		{"/v1/deliveries?since=%00", "since"},
		{"/v1/deliveries?endpoint_id=%00", "endpoint_id"},
		{"/v1/deliveries?endpoint_id=msg_" + strings.Repeat("a", 26), "endpoint_id"},
	} {
		p := clientError(t, s.do(t, http.MethodGet, tc.target, ""), tc.target)
		if !names(p, tc.field) {
			t.Errorf("GET %s: errors %+v do not name %s", tc.target, p.Errors, tc.field)
		}
	}
	// A cursor the API made still works.
	good := encodeCursor(time.Unix(1700000000, 5), "rep_"+strings.Repeat("b", 26))
	if w := s.do(t, http.MethodGet, "/v1/reports?cursor="+good, ""); w.Code != http.StatusOK {
		t.Fatalf("a real cursor: %d %s", w.Code, w.Body)
	}
}

func base64URL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

const validBody = `{"type":"order_history","format":"pdf","params":{"customer_id":"cus_1","from":"2026-01-01","to":"2026-03-31"}}`

func TestHostileBodiesNameTheField(t *testing.T) {
	s := newEdgeServer(t)
	placed := func(items string, total string) string {
		return `{"events":[{"event_id":"e1","order_id":"o1","sequence":1,"type":"OrderPlaced","occurred_at":"2026-03-01T10:00:00Z",` +
			`"data":{"customer_id":"c","merchant_id":"m","currency":"USD","items":` + items + `,"total_cents":` + total + `}}]}`
	}
	withVersion := func(v string) string {
		return strings.Replace(placed(`[{"sku":"a","qty":1,"unit_price_cents":1}]`, "1"), `"type"`, `"schema_version":`+v+`,"type"`, 1)
	}
	for _, tc := range []struct {
		name, path, body string
		headers          []string
		status           int
		field            string
	}{
		{"case-variant key", "/v1/reports", `{"TYPE":"order_history","format":"pdf","params":{"customer_id":"c","from":"2026-01-01","to":"2026-01-02"}}`, nil, 400, ""},
		{"case-variant nested key", "/v1/reports", `{"type":"order_history","format":"pdf","params":{"Customer_ID":"c","from":"2026-01-01","to":"2026-01-02"}}`, nil, 400, "params"},
		{"duplicate key", "/v1/reports", `{"type":"order_history","type":"merchant_sales","format":"pdf","params":{"customer_id":"c","from":"2026-01-01","to":"2026-01-02"}}`, nil, 422, "body"},
		{"NUL in params", "/v1/reports", `{"type":"order_history","format":"pdf","params":{"customer_id":"c\u0000","from":"2026-01-01","to":"2026-01-02"}}`, nil, 422, "params.customer_id"},
		{"NUL in metadata value", "/v1/reports", `{"type":"order_history","format":"pdf","params":{"customer_id":"c","from":"2026-01-01","to":"2026-01-02"},"metadata":{"k":"v\u0000"}}`, nil, 422, "metadata.k"},
		{"NUL in metadata key", "/v1/reports", `{"type":"order_history","format":"pdf","params":{"customer_id":"c","from":"2026-01-01","to":"2026-01-02"},"metadata":{"k\u0000":"v"}}`, nil, 422, `metadata["k\x00"]`},
		{"lone surrogate in metadata", "/v1/reports", `{"type":"order_history","format":"pdf","params":{"customer_id":"c","from":"2026-01-01","to":"2026-01-02"},"metadata":{"k":"\ud800"}}`, nil, 422, "metadata.k"},
		{"invalid UTF-8 in webhook_url", "/v1/reports", "{\"type\":\"order_history\",\"format\":\"pdf\",\"params\":{\"customer_id\":\"c\",\"from\":\"2026-01-01\",\"to\":\"2026-01-02\"},\"webhook_url\":\"https://a.example/\xff\"}", nil, 400, "webhook_url"},
		{"NUL in webhook_url", "/v1/reports", `{"type":"order_history","format":"pdf","params":{"customer_id":"c","from":"2026-01-01","to":"2026-01-02"},"webhook_url":"https://a.example/\u0000"}`, nil, 422, "webhook_url"},
		{"far-apart dates", "/v1/reports", `{"type":"order_history","format":"pdf","params":{"customer_id":"c","from":"0001-01-01","to":"9999-12-31"}}`, nil, 422, "params.to"},
		{"empty idempotency key", "/v1/reports", validBody, []string{"Idempotency-Key", ""}, 422, "Idempotency-Key"},
		{"two idempotency keys", "/v1/reports", validBody, []string{"Idempotency-Key", "a", "Idempotency-Key", "b"}, 422, "Idempotency-Key"},
		{"replay limit 0", "/v1/deliveries/replay", `{"limit":0}`, nil, 422, "limit"},
		{"replay limit negative", "/v1/deliveries/replay", `{"limit":-1}`, nil, 422, "limit"},
		{"replay limit over", "/v1/deliveries/replay", `{"limit":1001}`, nil, 422, "limit"},
		{"replay limit overflow", "/v1/deliveries/replay", `{"limit":99999999999999999999}`, nil, 400, "limit"},
		{"replay NUL status", "/v1/deliveries/replay", `{"status":"dead\u0000"}`, nil, 422, "status"},
		{"replay bad until", "/v1/deliveries/replay", `{"until":"yesterday"}`, nil, 422, "until"},
		{"replay until before since", "/v1/deliveries/replay", `{"since":"2026-04-02T00:00:00Z","until":"2026-04-01T00:00:00Z"}`, nil, 422, "until"},
		{"replay NUL endpoint", "/v1/deliveries/replay", `{"endpoint_id":"ep_\u0000"}`, nil, 422, "endpoint_id"},
		{"endpoint without url", "/v1/webhook-endpoints", `{}`, nil, 422, "url"},
		{"endpoint NUL url", "/v1/webhook-endpoints", `{"url":"https://a.example/\u0000"}`, nil, 422, "url"},
		{"endpoint invalid UTF-8 url", "/v1/webhook-endpoints", "{\"url\":\"https://a.example/\xff\"}", nil, 400, "url"},
		{"endpoint private url", "/v1/webhook-endpoints", `{"url":"https://10.0.0.1/hooks"}`, nil, 422, "url"},
		{"endpoint http url", "/v1/webhook-endpoints", `{"url":"http://a.example/hooks"}`, nil, 422, "url"},
		{"endpoint metadata address", "/v1/webhook-endpoints", `{"url":"https://169.254.169.254/latest"}`, nil, 422, "url"},
		{"endpoint unknown event", "/v1/webhook-endpoints", `{"url":"https://a.example/h","events":["report.deleted"]}`, nil, 422, "events[0]"},
		{"endpoint NUL event", "/v1/webhook-endpoints", `{"url":"https://a.example/h","events":["report.running\u0000"]}`, nil, 422, "events[0]"},
		{"endpoint duplicate event", "/v1/webhook-endpoints", `{"url":"https://a.example/h","events":["report.failed","report.failed"]}`, nil, 422, "events[1]"},
		{"endpoint events not a list", "/v1/webhook-endpoints", `{"url":"https://a.example/h","events":"report.failed"}`, nil, 400, "events"},
		{"endpoint long description", "/v1/webhook-endpoints", `{"url":"https://a.example/h","description":"` + strings.Repeat("é", 257) + `"}`, nil, 422, "description"},
		{"endpoint NUL description", "/v1/webhook-endpoints", `{"url":"https://a.example/h","description":"a\u0000"}`, nil, 422, "description"},
		{"endpoint unknown signing", "/v1/webhook-endpoints", `{"url":"https://a.example/h","signing":"none"}`, nil, 422, "signing"},
		{"endpoint unknown field", "/v1/webhook-endpoints", `{"url":"https://a.example/h","secret":"whsec_x"}`, nil, 400, ""},
		{"events: empty idempotency key", "/v1/order-events", placed(`[{"sku":"a","qty":1,"unit_price_cents":1}]`, "1"), []string{"Idempotency-Key", ""}, 422, "Idempotency-Key"},
		{"events: amount over 10^12", "/v1/order-events", placed(`[{"sku":"a","qty":1,"unit_price_cents":1000000000001}]`, "1000000000001"), nil, 422, "events[0].data.items[0].unit_price_cents"},
		{"events: int64 max amount", "/v1/order-events", placed(`[{"sku":"a","qty":1,"unit_price_cents":9223372036854775807}]`, "9223372036854775807"), nil, 422, "events[0].data.total_cents"},
		{"events: amount overflowing int64", "/v1/order-events", placed(`[{"sku":"a","qty":1,"unit_price_cents":9223372036854775808}]`, "1"), nil, 400, "events[0].data.items[0].unit_price_cents"},
		{"events: qty 0", "/v1/order-events", placed(`[{"sku":"a","qty":0,"unit_price_cents":1}]`, "0"), nil, 422, "events[0].data.items[0].qty"},
		{"events: line over 10^12", "/v1/order-events", placed(`[{"sku":"a","qty":1000000,"unit_price_cents":1000001}]`, "1"), nil, 422, "events[0].data.items[0]"},
		{"events: unknown currency", "/v1/order-events", strings.Replace(placed(`[{"sku":"a","qty":1,"unit_price_cents":1}]`, "1"), "USD", "ZZZ", 1), nil, 422, "events[0].data.currency"},
		{"events: NUL in sku", "/v1/order-events", placed(`[{"sku":"a\u0000","qty":1,"unit_price_cents":1}]`, "1"), nil, 422, "events[0].data.items[0].sku"},
		{"events: case-variant key", "/v1/order-events", strings.Replace(placed(`[{"sku":"a","qty":1,"unit_price_cents":1}]`, "1"), `"type"`, `"TYPE"`, 1), nil, 400, "events[0]"},
		{"events: too many", "/v1/order-events", `{"events":[` + strings.Repeat(`{},`, 5000) + `{}]}`, nil, 422, "events"},
		{"events: too many items", "/v1/order-events", placed("["+strings.Repeat(`{},`, 1000)+`{}]`, "0"), nil, 422, "events[0].data.items"},
		{"events: schema_version 0", "/v1/order-events", withVersion("0"), nil, 422, "events[0].schema_version"},
		{"events: schema_version 3", "/v1/order-events", withVersion("3"), nil, 422, "events[0].schema_version"},
		{"events: schema_version as a string", "/v1/order-events", withVersion(`"1"`), nil, 422, "events[0].schema_version"},
		{"events: schema_version huge", "/v1/order-events", withVersion("99999999999999999999999999"), nil, 422, "events[0].schema_version"},
		{"events: schema_version 1e400", "/v1/order-events", withVersion("1e400"), nil, 422, "events[0].schema_version"},
		{"events: schema_version null", "/v1/order-events", withVersion("null"), nil, 422, "events[0].schema_version"},
		{"events: v2 without tax_cents", "/v1/order-events", withVersion("2"), nil, 422, "events[0].data.items[0].tax_cents"},
		{"events: v1 with tax_cents", "/v1/order-events", placed(`[{"sku":"a","qty":1,"unit_price_cents":1,"tax_cents":0}]`, "1"), nil, 400, "events[0].data.items[0]"},
		{"events: v2 tax over 10^12", "/v1/order-events", strings.Replace(withVersion("2"), `"unit_price_cents":1}`, `"unit_price_cents":1,"tax_cents":1000000000000}`, 1), nil, 422, "events[0].data.items[0]"},
		{"events: deep nesting", "/v1/order-events", `{"events":[{"data":` + strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000) + `}]}`, nil, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := clientError(t, s.do(t, http.MethodPost, tc.path, tc.body, tc.headers...), tc.name)
			if p.Status != tc.status {
				t.Errorf("status %d, want %d: %+v", p.Status, tc.status, p)
			}
			if tc.field != "" && !names(p, tc.field) {
				t.Errorf("errors %+v do not name %q", p.Errors, tc.field)
			}
		})
	}
}

func TestMethodNotAllowedListsAllow(t *testing.T) {
	s := newEdgeServer(t)
	for target, want := range map[string]string{
		"/v1/reports": "GET, POST",
		"/v1/reports/rep_" + strings.Repeat("a", 26):             "GET",
		"/v1/order-events":                                       "POST",
		"/v1/deliveries/msg_abc/redeliver":                       "POST",
		"/v1/reports/rep_" + strings.Repeat("a", 26) + "/cancel": "POST",
	} {
		w := s.do(t, http.MethodDelete, target, "")
		clientError(t, w, "DELETE "+target)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != want {
			t.Errorf("DELETE %s: %d Allow %q, want 405 Allow %q", target, w.Code, w.Header().Get("Allow"), want)
		}
	}
}

func TestAccessLogNamesTheClient(t *testing.T) {
	s := newEdgeServer(t)
	s.do(t, http.MethodGet, "/v1/reports", "")
	var line struct {
		Msg      string `json:"msg"`
		ClientID string `json:"client_id"`
	}
	for l := range strings.Lines(s.logs.String()) {
		if err := json.Unmarshal([]byte(l), &line); err == nil && line.Msg == "http request" {
			break
		}
	}
	if line.Msg != "http request" || line.ClientID != edgeClient {
		t.Fatalf("access log %+v, want client_id %s; logs:\n%s", line, edgeClient, s.logs)
	}
}

func TestSequenceConflictHidesTheErrorChain(t *testing.T) {
	s := newEdgeServer(t)
	internal := errors.New(`append event e2: order o1 sequence 1: order sequence already taken by another event (table order_events)`)
	s.store.AppendFunc = func(context.Context, string, []orderevents.Event) (domain.AppendResult, error) {
		return domain.AppendResult{}, fmt.Errorf("%w: %w", domain.ErrSequenceConflict, internal)
	}
	body := `{"events":[{"event_id":"e2","order_id":"o1","sequence":1,"type":"OrderCancelled","occurred_at":"2026-03-01T10:00:00Z","data":{}}]}`
	w := s.do(t, http.MethodPost, "/v1/order-events", body)
	p := clientError(t, w, "conflict")
	if p.Status != http.StatusConflict || !strings.Contains(p.Detail, "Order o1") || !strings.Contains(p.Detail, "sequence 1") ||
		strings.Contains(w.Body.String(), "table") || strings.Contains(w.Body.String(), "already taken") {
		t.Fatalf("409 body %s: want the order and sequence, not the internal chain", w.Body)
	}
	if !strings.Contains(s.logs.String(), "order_events") {
		t.Fatalf("the internal error was not logged: %s", s.logs)
	}
	// With the store naming the event, a batch of several is named too.
	s.store.AppendFunc = func(context.Context, string, []orderevents.Event) (domain.AppendResult, error) {
		return domain.AppendResult{}, fmt.Errorf("%w: %w", &domain.SequenceConflictError{EventID: "e3", OrderID: "o9", Sequence: 7}, internal)
	}
	two := strings.Replace(body, `]}`, `,{"event_id":"e3","order_id":"o9","sequence":7,"type":"OrderCancelled","occurred_at":"2026-03-01T10:00:00Z","data":{}}]}`, 1)
	p = clientError(t, s.do(t, http.MethodPost, "/v1/order-events", two), "conflict")
	if !strings.Contains(p.Detail, "Order o9") || !strings.Contains(p.Detail, "sequence 7") {
		t.Fatalf("409 detail %q, want order o9 sequence 7", p.Detail)
	}
}

// hostileSeeds are the classes every fuzz target starts from.
var hostileSeeds = []string{
	"", "%00", "rep_%00x", "rep_%FFx", "%ED%A0%80", "\\ud800", "rep_" + strings.Repeat("a", 26), "msg_" + strings.Repeat("a", 26),
	"rep_" + strings.Repeat("a", 26) + "%00", strings.Repeat("%FF", 100), "..", "%2F", "9223372036854775808", "ZZZ",
	"ep_" + strings.Repeat("a", 26), "ep_" + strings.Repeat("a", 26) + "%00",
}

// FuzzPathParams drives the real router with arbitrary escaped {id}
// segments on every route that has one: never a 500, always problem+json.
func FuzzPathParams(f *testing.F) {
	for i := range idRoutes {
		for _, seed := range hostileSeeds {
			f.Add(uint8(i), seed)
		}
	}
	s := newEdgeServer(f)
	f.Fuzz(func(t *testing.T, route uint8, seg string) {
		rt := idRoutes[int(route)%len(idRoutes)]
		target := strings.Replace(rt.path, "{id}", seg, 1)
		if _, err := url.ParseRequestURI(target); err != nil || strings.ContainsAny(target, "?#") {
			return // net/http answers 400 before any handler runs
		}
		w := s.do(t, rt.method, target, "")
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d %s", rt.method, target, w.Code, w.Body)
		}
		if w.Code >= 400 && w.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s %q: %d with Content-Type %q", rt.method, target, w.Code, w.Header().Get("Content-Type"))
		}
	})
}

// FuzzQueryParams sends arbitrary list parameters: never a 500.
func FuzzQueryParams(f *testing.F) {
	for _, seed := range hostileSeeds {
		f.Add(false, seed, "", "", "")
		f.Add(true, base64URL("1:"+seed), "20", "dead", "2026-01-01T00:00:00Z")
	}
	f.Add(false, base64URL("123:rep_\x00"), "0", "\x00", "\xff")
	s := newEdgeServer(f)
	f.Fuzz(func(t *testing.T, deliveries bool, cursor, limit, status, since string) {
		q := url.Values{"cursor": {cursor}, "limit": {limit}, "status": {status}, "since": {since}}
		target := "/v1/reports?" + q.Encode()
		if deliveries {
			target = "/v1/deliveries?" + q.Encode()
		}
		if w := s.do(t, http.MethodGet, target, ""); w.Code >= 500 {
			t.Fatalf("GET %s: %d %s", target, w.Code, w.Body)
		}
	})
}

// FuzzBodies posts arbitrary bodies and Idempotency-Keys to every endpoint
// that decodes one, through the real router: never a 500.
func FuzzBodies(f *testing.F) {
	paths := []string{"/v1/reports", "/v1/order-events", "/v1/deliveries/replay", "/v1/webhook-endpoints",
		"/v1/webhook-endpoints/ep_" + strings.Repeat("a", 26)}
	for i := range paths {
		for _, seed := range []string{
			validBody, `{"TYPE":"order_history"}`, `{"type":"order_history","type":"x"}`, `{"metadata":{"k\u0000":"\ud800"}}`,
			`{"events":[{"event_id":"e1","order_id":"o1","sequence":1,"type":"PaymentCaptured","occurred_at":"2026-03-01T10:00:00Z","data":{"amount_cents":9223372036854775807}}]}`,
			`{"events":[{"event_id":"e1","order_id":"o1","sequence":1,"type":"OrderPlaced","occurred_at":"2026-03-01T10:00:00Z","data":{"customer_id":"c","merchant_id":"m","currency":"ZZZ","items":[{"sku":"a","qty":1,"unit_price_cents":1}],"total_cents":1}}]}`,
			`{"events":[{"event_id":"e1","order_id":"o1","sequence":1,"type":"OrderPlaced","schema_version":2,"occurred_at":"2026-03-01T10:00:00Z","data":{"customer_id":"c","merchant_id":"m","currency":"EUR","items":[{"sku":"a","qty":2,"unit_price_cents":100,"tax_cents":38}],"total_cents":238}}]}`,
			`{"events":[{"event_id":"e1","order_id":"o1","sequence":1,"type":"OrderPlaced","schema_version":"2","occurred_at":"2026-03-01T10:00:00Z","data":{}}]}`,
			`{"events":[{"event_id":"e1","order_id":"o1","sequence":1,"type":"PaymentCaptured","schema_version":1e400,"occurred_at":"2026-03-01T10:00:00Z","data":{"amount_cents":1}}]}`,
			`{"events":[{"event_id":"e1","order_id":"o1","sequence":1,"type":"PaymentCaptured","schema_version":0,"occurred_at":"2026-03-01T10:00:00Z","data":{"amount_cents":1}}]}`,
			`{"events":[` + strings.Repeat(`{},`, 1200) + `{}]}`, `{"limit":0}`, `{"limit":1e3}`, `{"since":"\u0000"}`,
			`{"a":` + strings.Repeat(`[`, 3000) + strings.Repeat(`]`, 3000) + `}`, "\xff", "", "null", "[]", "{}{}",
			`{"url":"https://a.example/h","events":["report.running"],"description":"d","signing":"endpoint"}`,
			`{"url":"https://a.example/\u0000","events":[null]}`, `{"events":[]}`, `{"status":"active"}`, `{"status":"paused"}`,
			`{"until":"2026-01-01T00:00:00Z","since":"2026-02-01T00:00:00Z"}`, `{"endpoint_id":"ep_\u0000"}`,
		} {
			f.Add(uint8(i), seed, "")
			f.Add(uint8(i), seed, "k\x00")
		}
	}
	s := newEdgeServer(f)
	f.Fuzz(func(t *testing.T, path uint8, body, key string) {
		var headers []string
		if key != "" {
			headers = []string{"Idempotency-Key", key}
		}
		target := paths[int(path)%len(paths)]
		method := http.MethodPost
		if strings.HasPrefix(target, "/v1/webhook-endpoints/") {
			method = http.MethodPatch
		}
		w := s.do(t, method, target, body, headers...)
		if w.Code >= 500 {
			t.Fatalf("POST %s %q: %d %s", target, body, w.Code, w.Body)
		}
		if w.Code >= 400 {
			var p Problem
			if err := json.NewDecoder(io.LimitReader(w.Body, 1<<20)).Decode(&p); err != nil || p.Status != w.Code {
				t.Fatalf("POST %s: %d with body %s", target, w.Code, w.Body)
			}
		}
	})
}
