package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/metrics"
)

func TestDriftCollector(t *testing.T) {
	tests := []struct {
		name  string
		drift metrics.DriftFunc
		want  map[string]float64
	}{
		{
			name: "recorded verifies",
			drift: func(context.Context) ([]domain.ProjectionDrift, error) {
				return []domain.ProjectionDrift{{Name: "orders", DriftRows: 3, CheckedAt: 1700000000}, {Name: "sales", CheckedAt: 1700000100}}, nil
			},
			want: map[string]float64{
				"reportd_collector_up{collector=projection_drift}":                 1,
				"reportd_projection_drift_rows{projection=orders}":                 3,
				"reportd_projection_verified_timestamp_seconds{projection=orders}": 1700000000,
				"reportd_projection_drift_rows{projection=sales}":                  0,
				"reportd_projection_verified_timestamp_seconds{projection=sales}":  1700000100,
			},
		},
		{
			name: "postgres down",
			drift: func(context.Context) ([]domain.ProjectionDrift, error) {
				return nil, errors.New("postgres: connection refused")
			},
			want: map[string]float64{"reportd_collector_up{collector=projection_drift}": 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.New(nil)
			m.WatchProjectionDrift(tt.drift)
			got := series(t, m.Registry(), "reportd_")
			for k := range got {
				if _, ok := tt.want[k]; !ok && !isDriftSeries(k) {
					delete(got, k)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("drift metrics (-want +got):\n%s", diff)
			}
		})
	}
}

func isDriftSeries(k string) bool {
	for _, p := range []string{"reportd_projection_drift_rows", "reportd_projection_verified_timestamp_seconds"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}
