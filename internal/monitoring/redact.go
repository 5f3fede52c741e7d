package monitoring

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// shownFields are the payload fields an operator may see: opaque ids that
// lead to the report, client and delivery, and nothing about their content.
func shownFields() []string {
	return []string{"report_id", "delivery_id", "client_id", "request_id", "delivery_ids"}
}

const (
	maxShown   = 200 // characters of a formatted payload
	maxIDShown = 64  // characters of one id
)

// Redact formats a task payload or result for the dashboard: the id fields
// of a JSON object, and in "hidden_fields" how many others were hidden.
// Anything that is not a JSON object is hidden whole. The result never
// exceeds 200 characters.
func Redact(b []byte) string {
	if len(b) == 0 {
		return "(empty)"
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Sprintf("(%d bytes hidden)", len(b))
	}
	var parts []string
	hidden := 0
	shown := shownFields()
	for _, k := range shown {
		raw, ok := obj[k]
		if !ok {
			continue
		}
		shown, ok := formatIDs(raw)
		if !ok {
			hidden++ // an id field holding anything but ids is not shown
			continue
		}
		parts = append(parts, fmt.Sprintf("%q:%s", k, shown))
	}
	for k := range obj {
		if !slices.Contains(shown, k) {
			hidden++
		}
	}
	// Still JSON, so the dashboard highlights it.
	if hidden > 0 {
		parts = append(parts, fmt.Sprintf(`"hidden_fields":%d`, hidden))
	}
	return truncate("{"+strings.Join(parts, ",")+"}", maxShown)
}

// formatIDs formats an id, or a list of ids (a delivery batch's), each
// cut to maxIDShown; ok is false for anything else.
func formatIDs(raw json.RawMessage) (string, bool) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return fmt.Sprintf("%q", truncate(one, maxIDShown)), isID(one)
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return "", false
	}
	quoted := make([]string, len(many))
	for i, id := range many {
		if !isID(id) {
			return "", false
		}
		quoted[i] = fmt.Sprintf("%q", truncate(id, maxIDShown))
	}
	return "[" + strings.Join(quoted, ",") + "]", true
}

// isID accepts what our ids look like: printable, no spaces or quotes.
func isID(s string) bool {
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || r == ':' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') { //nolint:staticcheck // QF1001: an allow-list reads best as one negated disjunction
			return false
		}
	}
	return s != ""
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
