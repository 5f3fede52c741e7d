package domain_test

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/domain"
)

// The API serves ProjectionStatus as openapi.yaml's ProjectionStatus: these
// names, and no held_orders.
func TestProjectionStatusJSONNames(t *testing.T) {
	b, err := json.Marshal(domain.ProjectionStatus{Name: "orders", HeldOrders: 3})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"head", "held_events", "lag_events", "lag_seconds", "name", "parked_events", "partitions", "position"}
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(got))); diff != "" {
		t.Errorf("JSON names mismatch (-want +got):\n%s", diff)
	}
}
