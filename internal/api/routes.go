package api

import (
	"net/http"

	"github.com/gorilla/mux"
)

// routes is the whole HTTP surface in one place.
func routes(d Deps, queueState *latencyCache) http.Handler {
	r := mux.NewRouter()
	r.Use(withLogging(d.Logger, d.Observer), withRecovery(d.Logger))
	// mux runs no middleware for these two, so they log nothing; they are cheap and reveal nothing.
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeProblem(w, errNotFound) })
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, problem(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", "This path does not accept that method."))
	})

	r.Handle("/healthz", handleHealthz()).Methods(http.MethodGet)
	r.Handle("/readyz", handleReadyz(d)).Methods(http.MethodGet)
	r.Handle("/openapi.yaml", handleOpenAPI(d.Settings.OpenAPI)).Methods(http.MethodGet)
	if d.Metrics != nil {
		r.Handle("/metrics", d.Metrics).Methods(http.MethodGet)
	}
	if d.Monitoring != nil {
		r.PathPrefix("/monitoring/").Handler(d.Monitoring)
	}

	reportsAPI := r.PathPrefix("/v1").Subrouter()
	reportsAPI.Use(requireKey(d.Logger, d.Store, ScopeReports))
	reportsAPI.Handle("/reports", handleCreateReport(d, queueState)).Methods(http.MethodPost)
	reportsAPI.Handle("/reports", handleListReports(d)).Methods(http.MethodGet)
	reportsAPI.Handle("/reports/{id}", handleGetReport(d)).Methods(http.MethodGet)
	reportsAPI.Handle("/reports/{id}/download", handleDownload(d)).Methods(http.MethodGet)
	reportsAPI.Handle("/reports/{id}/cancel", handleCancelReport(d)).Methods(http.MethodPost)
	reportsAPI.Handle("/reports/{id}/deliveries", handleReportDeliveries(d)).Methods(http.MethodGet)
	reportsAPI.Handle("/deliveries", handleListDeliveries(d)).Methods(http.MethodGet)
	reportsAPI.Handle("/deliveries/replay", handleReplayDeliveries(d)).Methods(http.MethodPost)
	reportsAPI.Handle("/deliveries/{id}/redeliver", handleRedeliver(d)).Methods(http.MethodPost)

	eventsAPI := r.PathPrefix("/v1").Subrouter()
	eventsAPI.Use(requireKey(d.Logger, d.Store, ScopeEventsWrite))
	eventsAPI.Handle("/order-events", handleAppendEvents(d)).Methods(http.MethodPost)

	anyKey := r.PathPrefix("/v1").Subrouter()
	anyKey.Use(requireKey(d.Logger, d.Store, ""))
	anyKey.Handle("/projections", handleProjections(d)).Methods(http.MethodGet)
	return r
}
