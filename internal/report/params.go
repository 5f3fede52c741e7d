package report

import (
	"fmt"
	"strings"
	"time"
)

const dayLayout = "2006-01-02"

// maxIDLen bounds customer and merchant ids.
const maxIDLen = 64

// FieldError is one validation failure of a client-sent value. Field names
// the JSON path, e.g. "params.from", as the API's problem+json errors[] wants.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Period parses From and To as whole UTC days. from is the start of the first
// day and to the start of the last day; both days are included, so a query
// wants rows in [from, to+24h).
func (p Params) Period() (from, to time.Time, err error) {
	from, err = parseDay(p.From)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("parse from: %w", err)
	}
	to, err = parseDay(p.To)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("parse to: %w", err)
	}
	if to.Before(from) {
		return time.Time{}, time.Time{}, fmt.Errorf("period %s..%s: to is before from", p.From, p.To)
	}
	return from, to, nil
}

// Bounds are the instants the period covers, [start, end): midnight of
// From and midnight after To, in the params' time zone (a day is not
// always 24 hours there).
func (p Params) Bounds() (start, end time.Time, err error) {
	from, to, err := p.Period()
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	loc, err := ParseTimezone(p.Timezone)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	start = time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, loc)
	end = time.Date(to.Year(), to.Month(), to.Day()+1, 0, 0, 0, 0, loc)
	return start, end, nil
}

// periodSeconds is the length of from..to, both days included, in seconds.
// Unix seconds cannot overflow for years 0000-9999, where time.Duration
// (292 years) would saturate and a span of millennia would pass a bound.
func periodSeconds(from, to time.Time) int64 {
	return to.Unix() - from.Unix() + 24*60*60
}

// parseDay accepts exactly YYYY-MM-DD.
func parseDay(s string) (time.Time, error) {
	if len(s) != len(dayLayout) {
		return time.Time{}, fmt.Errorf("%q is not a YYYY-MM-DD date", s)
	}
	t, err := time.Parse(dayLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a YYYY-MM-DD date", s)
	}
	return t, nil
}

// ValidateRequest checks a report request's type, format and params.
// maxRange bounds the period, counted in whole days with both ends included
// (2026-01-01..2026-01-31 is 31 days); zero or less means no bound.
// It returns nil when everything is valid.
func ValidateRequest(t Type, f Format, p Params, maxRange time.Duration) []FieldError {
	var errs []FieldError
	add := func(field, msg string) { errs = append(errs, FieldError{Field: field, Message: msg}) }

	switch t {
	case TypeOrderHistory, TypeMerchantSales:
	case "":
		add("type", "is required")
	default:
		add("type", fmt.Sprintf("must be one of %s, %s", TypeOrderHistory, TypeMerchantSales))
	}
	switch f {
	case FormatPDF, FormatCSV, FormatXLSX:
	case "":
		add("format", "is required")
	default:
		add("format", fmt.Sprintf("must be one of %s, %s, %s", FormatPDF, FormatCSV, FormatXLSX))
	}

	from, fromErr := parseDay(p.From)
	switch {
	case p.From == "":
		add("params.from", "is required")
	case fromErr != nil:
		add("params.from", "must be a date in YYYY-MM-DD form")
	}
	to, toErr := parseDay(p.To)
	switch {
	case p.To == "":
		add("params.to", "is required")
	case toErr != nil:
		add("params.to", "must be a date in YYYY-MM-DD form")
	}
	if fromErr == nil && toErr == nil {
		switch {
		case to.Before(from):
			add("params.to", "must not be before params.from")
		case maxRange > 0 && periodSeconds(from, to) > int64(maxRange/time.Second):
			add("params.to", "period must not exceed "+describeRange(maxRange))
		}
	}

	if p.Locale != "" {
		if _, err := ParseLocale(p.Locale); err != nil {
			add("params.locale", "must be one of "+strings.Join(SupportedLocales(), ", "))
		}
	}
	if p.Timezone != "" {
		if _, err := ParseTimezone(p.Timezone); err != nil {
			add("params.timezone", "must be an IANA time zone such as Europe/Berlin")
		}
	}

	checkID := func(field, id string, want bool, wantMsg string) {
		switch {
		case want && id == "":
			add(field, wantMsg)
		case !want && id != "":
			add(field, fmt.Sprintf("is not allowed for type %s", t))
		case id != "":
			if msg := idProblem(id); msg != "" {
				add(field, msg)
			}
		}
	}
	switch t {
	case TypeOrderHistory:
		checkID("params.customer_id", p.CustomerID, true, "is required for type order_history")
		checkID("params.merchant_id", p.MerchantID, false, "")
	case TypeMerchantSales:
		checkID("params.merchant_id", p.MerchantID, true, "is required for type merchant_sales")
		checkID("params.customer_id", p.CustomerID, false, "")
	}
	return errs
}

func idProblem(id string) string {
	if len(id) > maxIDLen {
		return fmt.Sprintf("must be at most %d characters", maxIDLen)
	}
	if !isSafeID(id) {
		return "must contain only letters, digits, '_', '-', '.' and ':'"
	}
	return ""
}

func isSafeID(id string) bool {
	for i := range len(id) {
		c := id[i]
		// The same alphabet as order-event ids, so every ingested subject can be reported on.
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':'
		if !ok {
			return false
		}
	}
	return true
}

func describeRange(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		days := int64(d / (24 * time.Hour))
		if days == 1 {
			return "1 day"
		}
		return fmt.Sprintf("%d days", days)
	}
	return d.String()
}

// Filename is the download name of a rendered report, e.g.
// "order-history_cus_42_2026-01-01_2026-03-31.pdf". It holds only
// [A-Za-z0-9_.-], so it is safe in a Content-Disposition header unquoted.
func Filename(doc Document, f Format) string {
	parts := []string{safeName(strings.ReplaceAll(string(doc.Type), "_", "-"))}
	if parts[0] == "" {
		parts[0] = "report"
	}
	if id := safeName(doc.Header.SubjectID); id != "" {
		parts = append(parts, id)
	}
	if !doc.Header.From.IsZero() {
		parts = append(parts, doc.Header.From.UTC().Format(dayLayout))
	}
	if !doc.Header.To.IsZero() {
		parts = append(parts, doc.Header.To.UTC().Format(dayLayout))
	}
	return strings.Join(parts, "_") + "." + f.Extension()
}

// safeName keeps [A-Za-z0-9_-], replaces anything else with '-' and caps the
// length, so client data cannot inject quotes or path separators.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxIDLen {
			break
		}
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}
