package monitoring

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestRedact(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name, in, want string
	}{
		{"report payload", `{"report_id":"rep_1","client_id":"cli_2","request_id":"req_3"}`,
			`{"report_id":"rep_1","client_id":"cli_2","request_id":"req_3"}`},
		{"delivery payload", `{"delivery_id":"msg_9","report_id":"rep_1","client_id":"cli_2"}`,
			`{"report_id":"rep_1","delivery_id":"msg_9","client_id":"cli_2"}`},
		{"delivery batch payload", `{"client_id":"cli_2","delivery_ids":["msg_1","msg_2"]}`,
			`{"client_id":"cli_2","delivery_ids":["msg_1","msg_2"]}`},
		{"list carrying data", `{"delivery_ids":["msg_1","Alice <a@b.c>"]}`, `{"hidden_fields":1}`},
		{"secrets and personal data hidden", `{"report_id":"rep_1","webhook_secret":"whsec_abc","email":"a@b.c","params":{"customer_id":"c1"}}`,
			`{"report_id":"rep_1","hidden_fields":3}`},
		{"id field carrying data", `{"client_id":{"name":"Alice"},"request_id":"Alice Smith <a@b.c>"}`,
			`{"hidden_fields":2}`},
		{"long id cut", `{"report_id":"` + long + `"}`,
			`{"report_id":"` + strings.Repeat("x", 63) + `…"}`},
		{"not an object", `["rep_1","secret"]`, `(18 bytes hidden)`},
		{"not json", "hunter2", `(7 bytes hidden)`},
		{"empty", "", `(empty)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Redact([]byte(tt.in))); diff != "" {
				t.Errorf("Redact(%s) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestRedactNeverLong(t *testing.T) {
	id := strings.Repeat("a", 200)
	in := `{"report_id":"` + id + `","client_id":"` + id + `","delivery_id":"` + id + `","request_id":"` + id + `","x":1}`
	got := Redact([]byte(in))
	if n := utf8.RuneCountInString(got); n > 200 {
		t.Errorf("Redact gave %d characters, want at most 200: %s", n, got)
	}
	if !strings.HasSuffix(got, "…") {
		t.Errorf("Redact(%d-byte payload) = %q, want it cut with …", len(in), got)
	}
}
