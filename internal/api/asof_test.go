package api

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseAsOf(t *testing.T) {
	now := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{in: "2026-03-01T12:00:00Z", want: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		{in: "2026-03-01T13:30:00.25+01:30", want: time.Date(2026, 3, 1, 12, 0, 0, 250_000_000, time.UTC)},
		{in: "2026-04-01T12:00:59Z", want: time.Date(2026, 4, 1, 12, 0, 59, 0, time.UTC)}, // within the clock skew
		{in: "1900-01-01T00:00:00Z", want: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)},
		{in: "2026-04-01T12:01:01Z", wantErr: "must not be in the future"},
		{in: "1899-12-31T23:59:59Z", wantErr: "must be in 1900 or later"},
		{in: "0001-01-01T00:00:00Z", wantErr: "must be in 1900 or later"},
		{in: "2026-03-01", wantErr: "must be an RFC 3339 time, like 2026-03-01T12:00:00Z"},
		{in: "2026-03-01T12:00:00", wantErr: "must be an RFC 3339 time, like 2026-03-01T12:00:00Z"},
		{in: "", wantErr: "must be an RFC 3339 time, like 2026-03-01T12:00:00Z"},
		{in: "yesterday", wantErr: "must be an RFC 3339 time, like 2026-03-01T12:00:00Z"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, fe := parseAsOf(&tc.in, now)
			if tc.wantErr != "" {
				if diff := cmp.Diff(&FieldError{Field: "as_of", Message: tc.wantErr}, fe); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				return
			}
			if fe != nil || got == nil {
				t.Fatalf("parseAsOf(%q) = %v, %+v", tc.in, got, fe)
			}
			if !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Errorf("parseAsOf(%q) = %v, want %v in UTC", tc.in, got, tc.want)
			}
		})
	}
	if got, fe := parseAsOf(nil, now); got != nil || fe != nil {
		t.Errorf("no as_of: %v, %+v", got, fe)
	}
}
