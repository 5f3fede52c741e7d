package api

import (
	"net/http"
	"strings"
	"testing"
)

// An order id, as_of, limit or cursor the API cannot use is a 422 naming
// it; the store (nil Orders here) is never asked.
func TestOrderRoutesRefuseBadParametersByName(t *testing.T) {
	s := newEdgeServer(t)
	for _, tc := range []struct{ target, field string }{
		{"/v1/orders/ord%00x", "order_id"},
		{"/v1/orders/ord%FFx", "order_id"},
		{"/v1/orders/ord%20x/events", "order_id"},
		{"/v1/orders/" + strings.Repeat("a", 65), "order_id"},
		{"/v1/orders/ord%C3%A9/events", "order_id"},
		{"/v1/orders/ord_1?as_of=yesterday", "as_of"},
		{"/v1/orders/ord_1?as_of=2026-02-03T10:00:00", "as_of"},
		{"/v1/orders/ord_1?as_of=2026-02-03T10:00:00+01:00", "as_of"}, // + decodes to a space
		{"/v1/orders/ord_1?as_of=", "as_of"},
		{"/v1/orders/ord_1?as_of=2026-02-03T10:00:00Z&as_of=2026-02-04T10:00:00Z", "as_of"},
		{"/v1/orders/ord_1/events?limit=0", "limit"},
		{"/v1/orders/ord_1/events?cursor=bm9wZQ", "cursor"},
		{"/v1/orders/ord_1/events?cursor=c2VxOjA", "cursor"}, // seq:0
		{"/v1/orders/ord_1/events?cursor=%00", "cursor"},
	} {
		p := clientError(t, s.do(t, http.MethodGet, tc.target, ""), tc.target)
		if p.Status != http.StatusUnprocessableEntity || !names(p, tc.field) {
			t.Errorf("%s: %d %+v, want 422 naming %s", tc.target, p.Status, p.Errors, tc.field)
		}
	}
}

func TestSequenceCursorRoundTrips(t *testing.T) {
	for _, seq := range []int64{1, 42, 1<<63 - 1} {
		got, err := decodeSequenceCursor(encodeSequenceCursor(seq))
		if err != nil || got != seq {
			t.Errorf("cursor of %d decodes to %d, %v", seq, got, err)
		}
	}
}
