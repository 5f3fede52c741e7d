package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"
)

// routes is the whole HTTP surface in one place.
func routes(d Deps, queueState *latencyCache) http.Handler {
	r := mux.NewRouter()
	r.Use(withLogging(d.Logger, d.Observer), withRecovery(d.Logger))
	// mux runs no middleware for these two, so they log nothing; they are cheap and reveal nothing.
	notFound := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeProblem(w, errNotFound) })
	notAllowed := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", strings.Join(allowedMethods(r, req), ", "))
		writeProblem(w, problem(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", "This path does not accept that method."))
	})
	r.NotFoundHandler, r.MethodNotAllowedHandler = notFound, notAllowed

	r.Handle("/healthz", handleHealthz()).Methods(http.MethodGet)
	r.Handle("/readyz", handleReadyz(d)).Methods(http.MethodGet)
	r.Handle("/openapi.yaml", handleOpenAPI(d.Settings.OpenAPI)).Methods(http.MethodGet)
	if d.Metrics != nil {
		r.Handle("/metrics", d.Metrics).Methods(http.MethodGet)
	}
	if d.Monitoring != nil {
		r.Handle("/monitoring", http.RedirectHandler("/monitoring/", http.StatusMovedPermanently))
		r.PathPrefix("/monitoring/").Handler(d.Monitoring)
	}

	// /v1 routes sit on the main router (a mux subrouter turns a wrong method
	// into a 404 instead of a 405). Every one needs a valid key and names the
	// scope it needs.
	auth := authenticate(d.Logger, newKeyCache(d.Keys, d.Settings.KeyCacheTTL, d.Now))
	v1 := func(method, path, scope string, h http.Handler) {
		if scope != "" {
			h = requireScope(scope, h)
		}
		r.Handle("/v1"+path, auth(h)).Methods(method)
	}
	v1(http.MethodPost, "/reports", ScopeReports, handleCreateReport(d, queueState))
	v1(http.MethodGet, "/reports", ScopeReports, handleListReports(d))
	v1(http.MethodGet, "/reports/{id}", ScopeReports, handleGetReport(d))
	v1(http.MethodGet, "/reports/{id}/download", ScopeReports, handleDownload(d))
	v1(http.MethodPost, "/reports/{id}/cancel", ScopeReports, handleCancelReport(d))
	v1(http.MethodGet, "/reports/{id}/deliveries", ScopeReports, handleReportDeliveries(d))
	v1(http.MethodGet, "/deliveries", ScopeReports, handleListDeliveries(d))
	v1(http.MethodPost, "/deliveries/replay", ScopeReports, handleReplayDeliveries(d))
	v1(http.MethodPost, "/deliveries/{id}/redeliver", ScopeReports, handleRedeliver(d))
	v1(http.MethodPost, "/order-events", ScopeEventsWrite, handleAppendEvents(d))
	if d.WebhookKeys != nil { // unit tests' Deps may leave it out
		v1(http.MethodGet, "/webhook-keys", ScopeReports, handleWebhookKeys(d))
	}
	if d.Endpoints != nil { // unit tests' Deps may leave it out
		v1(http.MethodPost, "/webhook-endpoints", ScopeReports, handleCreateEndpoint(d))
		v1(http.MethodGet, "/webhook-endpoints", ScopeReports, handleListEndpoints(d))
		v1(http.MethodGet, "/webhook-endpoints/{id}", ScopeReports, handleGetEndpoint(d))
		v1(http.MethodPatch, "/webhook-endpoints/{id}", ScopeReports, handlePatchEndpoint(d))
		v1(http.MethodDelete, "/webhook-endpoints/{id}", ScopeReports, handleDeleteEndpoint(d))
	}
	v1(http.MethodGet, "/projections", "", handleProjections(d))

	v1(http.MethodPost, "/schedules", ScopeReports, handleCreateSchedule(d))
	v1(http.MethodGet, "/schedules", ScopeReports, handleListSchedules(d))
	v1(http.MethodGet, "/schedules/{id}", ScopeReports, handleGetSchedule(d))
	v1(http.MethodPatch, "/schedules/{id}", ScopeReports, handlePatchSchedule(d))
	v1(http.MethodDelete, "/schedules/{id}", ScopeReports, handleDeleteSchedule(d))
	// The audit trail: reading an order's events needs read access, not events:write.
	v1(http.MethodGet, "/orders/{order_id}/events", ScopeReports, handleOrderEvents(d))
	v1(http.MethodGet, "/orders/{order_id}", ScopeReports, handleOrderAsOf(d))
	return r
}

// allowedMethods lists the methods some route accepts for req's path, for
// the Allow header of a 405 (RFC 9110 §15.5.6).
func allowedMethods(router *mux.Router, req *http.Request) []string {
	var allowed []string
	_ = router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		methods, err := route.GetMethods()
		if err != nil {
			return nil //nolint:nilerr // a route without methods accepts any; it never causes a 405
		}
		for _, m := range methods {
			probe := *req
			probe.Method = m
			var match mux.RouteMatch
			if route.Match(&probe, &match) && !slices.Contains(allowed, m) {
				allowed = append(allowed, m)
			}
		}
		return nil
	})
	slices.Sort(allowed)
	return allowed
}
