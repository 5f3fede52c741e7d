package natsingest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/orderevents"
)

// fakeClients and fakeAppender are hand-written fakes with XxxFunc fields.
type fakeClients struct {
	ClientScopesFunc func(ctx context.Context, clientID string) ([]string, error)
}

func (f *fakeClients) ClientScopes(ctx context.Context, clientID string) ([]string, error) {
	return f.ClientScopesFunc(ctx, clientID)
}

type fakeAppender struct {
	mu         sync.Mutex
	AppendFunc func(ctx context.Context, clientID string, events []orderevents.Event) (domain.AppendResult, error)
}

func (f *fakeAppender) Append(ctx context.Context, clientID string, events []orderevents.Event) (domain.AppendResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.AppendFunc(ctx, clientID, events)
}

const placed = `{"event_id":"evt_1","order_id":"ord_1","sequence":1,"type":"OrderPlaced","occurred_at":"2026-02-03T10:00:00Z",
 "data":{"customer_id":"cus_1","merchant_id":"mer_1","currency":"EUR","items":[{"sku":"tea","qty":1,"unit_price_cents":100}],"total_cents":100}}`

func TestBatchBodyWrapsOneEventAndKeepsBatches(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{placed, `{"events":[` + placed + `]}`},
		{`{"events":[` + placed + `]}`, `{"events":[` + placed + `]}`},
		{` {"events":[]} `, ` {"events":[]} `},
		{`{}`, `{"events":[{}]}`},
		{`{"event_id":`, `{"event_id":`},           // malformed: as it is
		{`{"a":1}{"b":2}`, `{"a":1}{"b":2}`},       // trailing data: as it is
		{`{"a":1}],[{"b":2}`, `{"a":1}],[{"b":2}`}, // never spliced into a batch
		{`[1]`, `[1]`},
		{``, ``},
	} {
		if got := string(batchBody([]byte(tc.in))); got != tc.want {
			t.Errorf("batchBody(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestProcessClassifiesEveryMessage(t *testing.T) {
	writer, reader, gone := ids.New("cli"), ids.New("cli"), ids.New("cli")
	down := fmt.Errorf("begin: %w", domain.ErrUnavailable)
	var appendErr error
	var appended []string
	in := &Ingester{
		Logger: slog.New(slog.DiscardHandler),
		Clients: &fakeClients{ClientScopesFunc: func(_ context.Context, id string) ([]string, error) {
			switch id {
			case writer:
				return []string{"reports", "events:write"}, nil
			case reader:
				return []string{"reports"}, nil
			case gone:
				return nil, domain.ErrNotFound
			}
			return nil, down
		}},
		Events: &fakeAppender{AppendFunc: func(_ context.Context, clientID string, events []orderevents.Event) (domain.AppendResult, error) {
			if appendErr != nil {
				return domain.AppendResult{}, appendErr
			}
			appended = append(appended, clientID+"/"+events[0].EventID)
			return domain.AppendResult{Accepted: len(events)}, nil
		}},
	}
	hdr := func(client string) nats.Header {
		h := nats.Header{}
		if client != "" {
			h.Set(HeaderClient, client)
		}
		return h
	}
	for _, tc := range []struct {
		name, client, body string
		appendErr          error
		outcome, reason    string
	}{
		{"one event", writer, placed, nil, OutcomeAccepted, ""},
		{"no header", "", placed, nil, OutcomeDeadLettered, ReasonMissingClient},
		{"not a client id", "cli_x\r\nEvil: 1", placed, nil, OutcomeDeadLettered, ReasonUnknownClient},
		{"unknown client", gone, placed, nil, OutcomeDeadLettered, ReasonUnknownClient},
		{"read-only client", reader, placed, nil, OutcomeDeadLettered, ReasonMissingScope},
		{"client lookup down", ids.New("cli"), placed, nil, OutcomeRetried, ""},
		{"bad JSON", writer, `{"event_id":`, nil, OutcomeDeadLettered, ReasonMalformed},
		{"unknown field", writer, `{"events":[],"extra":1}`, nil, OutcomeDeadLettered, ReasonMalformed},
		{"invalid", writer, strings.Replace(placed, `"sequence":1`, `"sequence":0`, 1), nil, OutcomeDeadLettered, ReasonInvalid},
		{"sequence conflict", writer, placed, &domain.SequenceConflictError{EventID: "evt_1", OrderID: "ord_1", Sequence: 1}, OutcomeDeadLettered, ReasonSequenceConflict},
		{"concurrent conflict", writer, placed, fmt.Errorf("append: %w", domain.ErrSequenceConflict), OutcomeRetried, ""},
		{"postgres down", writer, placed, down, OutcomeRetried, ""},
		{"deadline", writer, placed, context.DeadlineExceeded, OutcomeRetried, ""},
	} {
		appendErr = tc.appendErr
		v := in.process(context.Background(), []byte(tc.body), hdr(tc.client))
		if v.outcome != tc.outcome || v.reason != tc.reason {
			t.Errorf("%s: outcome %s reason %q (%v), want %s %q", tc.name, v.outcome, v.reason, v.err, tc.outcome, tc.reason)
		}
		if v.outcome == OutcomeDeadLettered && v.detail == "" {
			t.Errorf("%s: dead letter without detail", tc.name)
		}
	}
	if diff := cmp.Diff([]string{writer + "/evt_1"}, appended); diff != "" {
		t.Errorf("appended (-want +got):\n%s", diff)
	}
}

func TestProcessDuplicatesAreAcked(t *testing.T) {
	writer := ids.New("cli")
	in := &Ingester{
		Clients: &fakeClients{ClientScopesFunc: func(context.Context, string) ([]string, error) { return []string{"events:write"}, nil }},
		Events: &fakeAppender{AppendFunc: func(context.Context, string, []orderevents.Event) (domain.AppendResult, error) {
			return domain.AppendResult{Duplicates: 1}, nil
		}},
	}
	h := nats.Header{}
	h.Set(HeaderClient, writer)
	if v := in.process(context.Background(), []byte(placed), h); v.outcome != OutcomeDuplicate {
		t.Fatalf("a batch already in the log: %+v", v)
	}
}

func TestValidationErrorsKeepTheirFields(t *testing.T) {
	writer := ids.New("cli")
	in := &Ingester{Clients: &fakeClients{ClientScopesFunc: func(context.Context, string) ([]string, error) { return []string{"events:write"}, nil }}}
	h := nats.Header{}
	h.Set(HeaderClient, writer)
	v := in.process(context.Background(), []byte(`{"event_id":"e","order_id":"o o","sequence":1,"type":"PaymentCaptured","occurred_at":"2026-02-03T10:00:00Z","data":{"amount_cents":1}}`), h)
	if v.reason != ReasonInvalid || len(v.fields) != 1 || v.fields[0].Field != "events[0].order_id" {
		t.Fatalf("verdict: %+v", v)
	}
}

func TestOneLineMakesAHeaderValue(t *testing.T) {
	if got := oneLine("a\r\nb\x00c"); got != "a  b c" {
		t.Errorf("oneLine = %q", got)
	}
	long := oneLine(strings.Repeat("é", maxHeader))
	if len(long) > maxHeader || !strings.HasPrefix(long, "éé") || strings.ContainsRune(long, '\uFFFD') {
		t.Errorf("long value cut to %d bytes", len(long))
	}
}

// Events from NATS go through the same schema-version rules as the HTTP
// path: a v2 event reaches the log as v2, and a version that is none is a
// dead letter naming the field.
func TestProcessCarriesTheSchemaVersion(t *testing.T) {
	writer := ids.New("cli")
	var versions []int
	in := &Ingester{
		Logger:  slog.New(slog.DiscardHandler),
		Clients: &fakeClients{ClientScopesFunc: func(context.Context, string) ([]string, error) { return []string{"events:write"}, nil }},
		Events: &fakeAppender{AppendFunc: func(_ context.Context, _ string, events []orderevents.Event) (domain.AppendResult, error) {
			for _, e := range events {
				versions = append(versions, e.SchemaVersion)
			}
			return domain.AppendResult{Accepted: len(events)}, nil
		}},
	}
	hdr := nats.Header{}
	hdr.Set(HeaderClient, writer)
	v2 := strings.Replace(strings.Replace(placed, `"type":`, `"schema_version":2,"type":`, 1), `"unit_price_cents":100}`, `"unit_price_cents":100,"tax_cents":19}`, 1)
	v2 = strings.Replace(v2, `"total_cents":100`, `"total_cents":119`, 1)
	if v := in.process(context.Background(), []byte(v2), hdr); v.outcome != OutcomeAccepted {
		t.Fatalf("a v2 event: %s %s %v", v.outcome, v.reason, v.err)
	}
	if v := in.process(context.Background(), []byte(placed), hdr); v.outcome != OutcomeAccepted {
		t.Fatalf("a v1 event: %s %s %v", v.outcome, v.reason, v.err)
	}
	if diff := cmp.Diff([]int{2, 1}, versions); diff != "" {
		t.Errorf("schema versions appended (-want +got):\n%s", diff)
	}
	for _, version := range []string{`0`, `3`, `"2"`, `1e400`} {
		body := strings.Replace(placed, `"type":`, `"schema_version":`+version+`,"type":`, 1)
		v := in.process(context.Background(), []byte(body), hdr)
		if v.outcome != OutcomeDeadLettered || v.reason != ReasonInvalid || len(v.fields) != 1 || v.fields[0].Field != "events[0].schema_version" {
			t.Errorf("schema_version %s: %s %s %+v, want a dead letter naming schema_version", version, v.outcome, v.reason, v.fields)
		}
	}
}
