package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzCreateReportRequest feeds arbitrary bodies through the same decode and
// validation path as POST /v1/reports: every input must end in a clean
// 400/413/415/422 problem or a valid request, never a panic or a 500.
func FuzzCreateReportRequest(f *testing.F) {
	for _, seed := range []string{
		`{"type":"order_history","format":"pdf","params":{"customer_id":"cus_1","from":"2026-01-01","to":"2026-03-31"}}`,
		`{"type":"merchant_sales","format":"csv","params":{"merchant_id":"mer_1","from":"2026-01-01","to":"2026-01-01"},"webhook_url":"https://example.com/h","min_position":5,"metadata":{"a":"b"}}`,
		`{"type":"order_history","format":"pdf","params":{"customer_id":"c","from":"2026-02-30","to":"2026-01-01"},"webhook_url":"http://[::1]:80/"}`,
		`{"type":7}`, `[]`, `null`, `{"metadata":[1,2]}`, `{"params":{"x":1}}`, `{}{}`, "\xff",
		// The hostile classes: NUL, invalid UTF-8, lone surrogates, case-variant
		// and duplicate keys, huge numbers, deep nesting, empty values.
		`{"type":"order_history\u0000"}`, "{\"metadata\":{\"k\":\"\xed\xa0\x80\"}}", `{"metadata":{"\ud800":"\udfff"}}`,
		`{"TYPE":"order_history"}`, `{"type":"a","type":"b"}`, `{"min_position":9223372036854775808}`, `{"min_position":-9223372036854775808}`,
		`{"params":{"from":"0001-01-01","to":"9999-12-31","customer_id":"c"},"type":"order_history","format":"pdf"}`,
		`{"metadata":` + strings.Repeat(`{"a":`, 500) + `1` + strings.Repeat(`}`, 500) + `}`, `{"type":"","format":"","params":{}}`, `{"webhook_url":""}`,
		`{"as_of":"2026-03-01T12:00:00Z"}`, `{"as_of":"0000-01-01T00:00:00Z"}`, `{"as_of":"9999-12-31T23:59:59.999999999+14:00"}`, `{"as_of":7}`,
	} {
		f.Add(seed)
	}
	settings := Settings{MaxReportRange: 400 * 24 * time.Hour}
	// (FuzzBodies in edge_test.go sends the same through the whole router.)
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/reports", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		var req createReportRequest
		err := decodeJSON(w, r, &req)
		if err != nil {
			var p *Problem
			if !errors.As(err, &p) || p.Status < 400 || p.Status >= 500 {
				t.Fatalf("decode error is not a client problem: %v", err)
			}
			return
		}
		for _, fe := range req.validate(settings) {
			if fe.Field == "" || fe.Message == "" {
				t.Fatalf("validation error without field or message: %+v", fe)
			}
		}
		if asOf, fe := parseAsOf(req.AsOf, time.Now()); (asOf == nil) == (fe == nil) && req.AsOf != nil {
			t.Fatalf("as_of %q: %v and %+v", *req.AsOf, asOf, fe)
		}
	})
}

// FuzzDecodeCursor: any cursor string is either accepted or rejected, and an
// accepted one survives a round trip.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(time.Unix(1700000000, 5), "rep_abcdefghijklmnopqrstuvwxyz"))
	f.Add("")
	f.Add("!!!")
	f.Add("MTIzOg")
	f.Fuzz(func(t *testing.T, c string) {
		ts, id, err := decodeCursor(c, reportIDPrefix)
		if err != nil || c == "" {
			return
		}
		ts2, id2, err := decodeCursor(encodeCursor(ts, id), reportIDPrefix)
		if err != nil || !ts2.Equal(ts) || id2 != id {
			t.Fatalf("round trip of %q: %v %q %v", c, ts2, id2, err)
		}
	})
}

func TestParseWait(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, true}, {"30s", 30 * time.Second, true}, {"5", 5 * time.Second, true},
		{"61s", 0, false}, {"-1s", 0, false}, {"soon", 0, false},
	} {
		got, err := parseWait(tc.in, 60*time.Second)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseWait(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
