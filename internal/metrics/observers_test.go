package metrics_test

import (
	"github.com/reportd/reportd/internal/api"
	"github.com/reportd/reportd/internal/jobs"
	"github.com/reportd/reportd/internal/metrics"
)

// *Metrics is every observer the other packages declare.
var (
	_ api.HTTPObserver      = (*metrics.Metrics)(nil)
	_ jobs.Observer         = (*metrics.Metrics)(nil)
	_ jobs.DeliveryObserver = (*metrics.Metrics)(nil)
)
