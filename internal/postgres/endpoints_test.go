package postgres_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/webhook"
)

func newEndpoint(t *testing.T, store *postgres.Store, clientID, url string, events ...string) domain.Endpoint {
	t.Helper()
	if events == nil {
		events = []string{}
	}
	e, err := store.CreateEndpoint(context.Background(), domain.Endpoint{ID: ids.New("ep"), ClientID: clientID, URL: url, Events: events}, "")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestEndpointsCRUD: endpoints are the client's own, capped at ten, and a
// deleted one is gone from every read while its deliveries stay.
func TestEndpointsCRUD(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewStore(pgtest.New(t))
	a, b := newClient(t, store, ""), newClient(t, store, "")
	e := newEndpoint(t, store, a, "https://a.example/hooks", domain.EventRunning)
	if e.Status != domain.EndpointActive || e.Signing != domain.SigningClient || e.FailingSince != nil {
		t.Fatalf("new endpoint %+v: want active, signed with the client's keys, not failing", e)
	}
	if _, err := store.GetEndpoint(ctx, b, e.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("another client's GetEndpoint: %v, want ErrNotFound", err)
	}
	if _, err := store.UpdateEndpoint(ctx, b, e.ID, domain.EndpointChange{Enable: true}); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("another client's UpdateEndpoint: %v, want ErrNotFound", err)
	}
	if err := store.DeleteEndpoint(ctx, b, e.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("another client's DeleteEndpoint: %v, want ErrNotFound", err)
	}
	url, none := "https://a.example/v2", []string{}
	got, err := store.UpdateEndpoint(ctx, a, e.ID, domain.EndpointChange{URL: &url, Events: &none})
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != url || len(got.Events) != 0 || got.Description != "" {
		t.Fatalf("after PATCH: %+v", got)
	}
	for range domain.MaxEndpointsPerClient - 1 {
		newEndpoint(t, store, a, "https://a.example/more")
	}
	if _, err := store.CreateEndpoint(ctx, domain.Endpoint{ID: ids.New("ep"), ClientID: a, URL: "https://a.example/x", Events: []string{}}, ""); !errors.Is(err, domain.ErrTooMany) {
		t.Fatalf("the 11th endpoint: %v, want ErrTooMany", err)
	}
	if err := store.DeleteEndpoint(ctx, a, e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.GetEndpoint(ctx, a, e.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("GetEndpoint after delete: %v, want ErrNotFound", err)
	}
	list, err := store.ListEndpoints(ctx, a)
	if err != nil || len(list) != domain.MaxEndpointsPerClient-1 {
		t.Fatalf("ListEndpoints after delete: %d, %v; want %d", len(list), err, domain.MaxEndpointsPerClient-1)
	}
	newEndpoint(t, store, a, "https://a.example/again") // a deleted one frees its place
	if list, _ := store.ListEndpoints(ctx, b); len(list) != 0 {
		t.Fatalf("client b sees %d endpoints, want none", len(list))
	}
}

// TestEndpointOwnSecret: an endpoint's own secret signs its deliveries
// (sealed at rest), and the report's own URL keeps the client's key.
func TestEndpointOwnSecret(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewStore(pool).WithKeyring(testKeyring(t, 1))
	client := newClient(t, store, "https://default.example/hooks")
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	e, err := store.CreateEndpoint(ctx, domain.Endpoint{ID: ids.New("ep"), ClientID: client, URL: "https://own.example/hooks", Events: []string{}}, secret)
	if err != nil {
		t.Fatal(err)
	}
	if e.Signing != domain.SigningEndpoint {
		t.Fatalf("signing = %q, want endpoint", e.Signing)
	}
	var stored string
	if err := pool.QueryRow(ctx, `SELECT secret FROM webhook_endpoints WHERE id = $1`, e.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored == secret {
		t.Fatal("the endpoint's secret is stored in plaintext")
	}
	created := failReport(t, store, client)
	for _, id := range created {
		d, keys, err := store.LoadDeliveryToSend(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"whsec_x"}
		if d.EndpointID != nil {
			want = []string{secret}
		}
		if diff := cmp.Diff(want, keys); diff != "" {
			t.Errorf("keys of delivery to %s (-want +got):\n%s", d.URL, diff)
		}
	}
}

// failReport fails a new report of clientID and returns its report.failed deliveries.
func failReport(t *testing.T, store *postgres.Store, clientID string) []string {
	t.Helper()
	ctx := context.Background()
	rep, err := store.CreateReport(ctx, newReport(clientID), 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := domain.NewEvent(rep, domain.EventFailed, ids.New("msg"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	created, err := store.FailReport(ctx, rep.ID, 0, "unknown_subject", "no such customer", &ev)
	if err != nil {
		t.Fatal(err)
	}
	return created
}

type target struct {
	Event    string
	Endpoint string // "" for the default target
	URL      string
	Sequence int
}

func targets(t *testing.T, store *postgres.Store, clientID, reportID string) []target {
	t.Helper()
	list, err := store.ReportDeliveries(context.Background(), clientID, reportID)
	if err != nil {
		t.Fatal(err)
	}
	var out []target
	for _, d := range list {
		tg := target{Event: d.EventType, URL: d.URL, Sequence: d.Sequence}
		if d.EndpointID != nil {
			tg.Endpoint = *d.EndpointID
		}
		out = append(out, tg)
	}
	slices.SortFunc(out, func(a, b target) int {
		if a.Sequence != b.Sequence {
			return a.Sequence - b.Sequence
		}
		return cmpStrings(a.Endpoint, b.Endpoint)
	})
	return out
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestEventFanOut: each event goes to the default target (only succeeded
// and failed) and to every live endpoint whose filter matches, once per
// target however often it is written, with sequences in lifecycle order.
func TestEventFanOut(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewStore(pgtest.New(t))
	client := newClient(t, store, "https://default.example/hooks")
	all := newEndpoint(t, store, client, "https://all.example/hooks")
	onlyDone := newEndpoint(t, store, client, "https://done.example/hooks", domain.EventSucceeded, domain.EventExpired)
	gone := newEndpoint(t, store, client, "https://gone.example/hooks")
	if err := store.DeleteEndpoint(ctx, client, gone.ID); err != nil {
		t.Fatal(err)
	}
	other := newClient(t, store, "")
	newEndpoint(t, store, other, "https://other.example/hooks") // another client's: never a target

	rep, err := store.CreateReport(ctx, newReport(client), 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, ok, err := store.StartReport(ctx, rep.ID, "")
	if err != nil || !ok {
		t.Fatalf("StartReport: %v %v", ok, err)
	}
	for range 2 { // a second run announces nothing new
		if _, err := store.AnnounceRunning(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	r, _, _ = store.StartReport(ctx, rep.ID, "")
	if !r.RunningAnnounced {
		t.Fatal("report does not remember that running was announced")
	}
	ev, err := domain.NewEvent(r, domain.EventSucceeded, ids.New("msg"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	succeeded, err := store.SucceedReport(ctx, rep.ID, r.Run, domain.Result{ObjectKey: "k", ExpiresAt: time.Now().Add(-time.Second)}, &ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(succeeded) != 3 {
		t.Fatalf("report.succeeded made %d deliveries, want 3 (default, all, done)", len(succeeded))
	}
	expired, err := store.ExpireReport(ctx, rep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(expired) != 2 {
		t.Fatalf("report.expired made %d deliveries, want 2 (all, done)", len(expired))
	}
	again, err := store.ExpireReport(ctx, rep.ID)
	if err != nil || len(again) != 0 {
		t.Fatalf("expiring again: %v %v, want nothing", again, err)
	}
	want := []target{
		{Event: domain.EventRunning, Endpoint: all.ID, URL: all.URL, Sequence: 1},
		{Event: domain.EventSucceeded, URL: "https://default.example/hooks", Sequence: 2},
		{Event: domain.EventSucceeded, Endpoint: all.ID, URL: all.URL, Sequence: 2},
		{Event: domain.EventSucceeded, Endpoint: onlyDone.ID, URL: onlyDone.URL, Sequence: 2},
		{Event: domain.EventExpired, Endpoint: all.ID, URL: all.URL, Sequence: 3},
		{Event: domain.EventExpired, Endpoint: onlyDone.ID, URL: onlyDone.URL, Sequence: 3},
	}
	slices.SortFunc(want, func(a, b target) int {
		if a.Sequence != b.Sequence {
			return a.Sequence - b.Sequence
		}
		return cmpStrings(a.Endpoint, b.Endpoint)
	})
	if diff := cmp.Diff(want, targets(t, store, client, rep.ID)); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
	// The report's webhook summary still follows its own URL only.
	got, err := store.GetReport(ctx, client, rep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.WebhookStatus != "pending" {
		t.Errorf("webhook summary %q, want pending (the default target's)", got.WebhookStatus)
	}

	// A cancel is announced to the endpoints only.
	rep2, err := store.CreateReport(ctx, newReport(client), 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, canceled, err := store.CancelReport(ctx, client, rep2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(canceled) != 1 {
		t.Fatalf("report.canceled made %d deliveries, want 1 (all)", len(canceled))
	}
	if diff := cmp.Diff([]target{{Event: domain.EventCanceled, Endpoint: all.ID, URL: all.URL, Sequence: 1}}, targets(t, store, client, rep2.ID)); diff != "" {
		t.Errorf("canceled deliveries (-want +got):\n%s", diff)
	}
}

func admitAll(h webhook.Health, l webhook.Lane, _ time.Time) webhook.Admission {
	return webhook.BreakerPolicy{Concurrency: 2}.Admit(h, l, time.Now())
}

// TestAdmitDelivery: admission sees a report's earlier open event, the
// endpoint's leases on every worker, and its breaker.
func TestAdmitDelivery(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewStore(pool)
	client := newClient(t, store, "")
	ep := newEndpoint(t, store, client, "https://ep.example/hooks")
	byEvent := func(reportID string) map[string]string {
		list, err := store.ReportDeliveries(ctx, client, reportID)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, d := range list {
			m[d.EventType] = d.ID
		}
		return m
	}
	running := func() map[string]string {
		rep, err := store.CreateReport(ctx, newReport(client), 0, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, _, err := store.StartReport(ctx, rep.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.AnnounceRunning(ctx, r); err != nil {
			t.Fatal(err)
		}
		r.RunningAnnounced = true
		ev, _ := domain.NewEvent(r, domain.EventFailed, "", time.Now())
		if _, err := store.FailReport(ctx, rep.ID, 0, "x", "y", &ev); err != nil {
			t.Fatal(err)
		}
		return byEvent(rep.ID)
	}
	r1, r2 := running(), running()

	adm, err := store.AdmitDelivery(ctx, r1[domain.EventFailed], time.Minute, admitAll)
	if err != nil {
		t.Fatal(err)
	}
	if adm.Go || adm.Reason != "ordering" {
		t.Fatalf("report.failed before its report.running is delivered: %+v, want an ordering wait", adm)
	}
	// Another report's first event is not held back by r1.
	for _, id := range []string{r1[domain.EventRunning], r2[domain.EventRunning]} {
		if adm, err := store.AdmitDelivery(ctx, id, time.Minute, admitAll); err != nil || !adm.Go {
			t.Fatalf("admit %s: %+v %v, want go", id, adm, err)
		}
	}
	// Both places are leased now: a third attempt waits, whichever report.
	if _, err := store.RecordAttempt(ctx, r1[domain.EventRunning], domain.AttemptRecord{StartedAt: time.Now(), StatusCode: 204, Outcome: "delivered"}, domain.DeliveryDelivered, time.Now()); err != nil {
		t.Fatal(err)
	}
	// r1's running is delivered (lease released): its failed event may go.
	if adm, err := store.AdmitDelivery(ctx, r1[domain.EventFailed], time.Minute, admitAll); err != nil || !adm.Go {
		t.Fatalf("report.failed once running is delivered: %+v %v, want go", adm, err)
	}
	adm, err = store.AdmitDelivery(ctx, r2[domain.EventFailed], time.Minute, admitAll)
	if err != nil || adm.Go || adm.Reason != "ordering" {
		t.Fatalf("r2's failed while r2's running is in flight: %+v %v, want an ordering wait", adm, err)
	}
	// A third report's event meets the concurrency limit (two leases held).
	r3 := running()
	if _, err := pool.Exec(ctx, `UPDATE deliveries SET status = 'dead' WHERE id = $1`, r3[domain.EventRunning]); err != nil {
		t.Fatal(err)
	}
	adm, err = store.AdmitDelivery(ctx, r3[domain.EventFailed], time.Minute, admitAll)
	if err != nil || adm.Go || adm.Reason != "concurrency" {
		t.Fatalf("with two attempts in flight: %+v %v, want a concurrency wait", adm, err)
	}
	// A lease that ran out (a crashed worker) frees its place by itself.
	if _, err := pool.Exec(ctx, `UPDATE deliveries SET lease_until = now() - interval '1 second' WHERE id = $1`, r2[domain.EventRunning]); err != nil {
		t.Fatal(err)
	}
	if adm, err := store.AdmitDelivery(ctx, r3[domain.EventFailed], time.Minute, admitAll); err != nil || !adm.Go {
		t.Fatalf("after a lease ran out: %+v %v, want go", adm, err)
	}
	// A waiting delivery's next_attempt_at moves on, so the sweeper does
	// not count it as lost.
	var next time.Time
	if err := pool.QueryRow(ctx, `SELECT next_attempt_at FROM deliveries WHERE id = $1`, r2[domain.EventFailed]).Scan(&next); err != nil {
		t.Fatal(err)
	}
	if !next.After(time.Now()) {
		t.Errorf("waiting delivery's next_attempt_at %s is not in the future", next)
	}
	_ = ep
}

// TestSettleEndpoint: the breaker's state is kept per endpoint; disabling
// turns what waits into dead letters, replayable for that endpoint alone.
func TestSettleEndpoint(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewStore(pool)
	client := newClient(t, store, "https://default.example/hooks")
	ep := newEndpoint(t, store, client, "https://ep.example/hooks")
	created := append(failReport(t, store, client), failReport(t, store, client)...)
	var epDeliveries []string
	for _, id := range created {
		d, _, err := store.LoadDeliveryToSend(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.EndpointID != nil {
			epDeliveries = append(epDeliveries, id)
		}
	}
	if len(epDeliveries) != 2 {
		t.Fatalf("%d deliveries to the endpoint, want 2", len(epDeliveries))
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	before, after, err := store.SettleEndpoint(ctx, ep.ID, epDeliveries[0], func(h webhook.Health) webhook.Health {
		return webhook.Health{Status: webhook.EndpointDisabled, Failures: h.Failures + 1, FailingSince: &now}
	})
	if err != nil {
		t.Fatal(err)
	}
	if before.Status != webhook.EndpointActive || after.Status != webhook.EndpointDisabled {
		t.Fatalf("settle: %v → %v", before.Status, after.Status)
	}
	got, err := store.GetEndpoint(ctx, client, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != domain.EndpointDisabled || got.FailingSince == nil || !got.FailingSince.Equal(now) || got.DisabledAt == nil {
		t.Fatalf("endpoint after disabling: %+v", got)
	}
	dead, err := store.ListDeliveries(ctx, client, domain.DeliveryFilter{Status: domain.DeliveryDead, EndpointID: ep.ID, Limit: 10})
	if err != nil || len(dead) != 2 {
		t.Fatalf("the endpoint's dead letters: %d %v, want 2", len(dead), err)
	}
	// New events skip a disabled endpoint.
	if n := len(failReport(t, store, client)); n != 1 {
		t.Fatalf("an event while the endpoint is disabled made %d deliveries, want 1 (the default target)", n)
	}
	// Enabling clears the record; a replay for the endpoint, within a
	// window, brings back its dead letters only.
	if got, err = store.UpdateEndpoint(ctx, "", ep.ID, domain.EndpointChange{Enable: true}); err != nil || got.Status != domain.EndpointActive || got.FailingSince != nil {
		t.Fatalf("enable: %+v %v", got, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE deliveries SET status = 'dead' WHERE endpoint_id IS NULL`); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	refs, err := store.ReplayDeliveries(ctx, client, domain.ReplayFilter{Status: domain.DeliveryDead, EndpointID: ep.ID, Until: &until, Limit: 10})
	if err != nil || len(refs) != 2 {
		t.Fatalf("replay for the endpoint: %d %v, want its 2", len(refs), err)
	}
	past := time.Now().Add(-time.Hour)
	refs, err = store.ReplayDeliveries(ctx, client, domain.ReplayFilter{Status: domain.DeliveryDead, Until: &past, Limit: 10})
	if err != nil || len(refs) != 0 {
		t.Fatalf("replay until an hour ago: %d %v, want none", len(refs), err)
	}
}

// TestMigrationKeepsOldDeliveries: rows from before endpoints belong to the
// default target, and the report can still get each event once per target.
func TestMigrationKeepsOldDeliveries(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	if err := postgres.MigrateDownTo(ctx, pool, 7); err != nil {
		t.Fatalf("migrate down to 00007: %v", err)
	}
	store := postgres.NewStore(pool)
	client := newClient(t, store, "https://default.example/hooks")
	rep, err := store.CreateReport(ctx, newReport(client), 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := ids.New("msg")
	if _, err := pool.Exec(ctx, `UPDATE reports SET status = 'failed' WHERE id = $1`, rep.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO deliveries (id, report_id, client_id, event_type, url, body)
		VALUES ($1, $2, $3, 'report.failed', 'https://default.example/hooks', '{}')`, old, rep.ID, client); err != nil {
		t.Fatal(err)
	}
	migrateUp(t, pool)
	var targetName string
	var seq int
	if err := pool.QueryRow(ctx, `SELECT target, sequence FROM deliveries WHERE id = $1`, old).Scan(&targetName, &seq); err != nil {
		t.Fatal(err)
	}
	if targetName != "default" || seq != 1 {
		t.Fatalf("old delivery: target %q sequence %d, want default and 1", targetName, seq)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO deliveries (id, report_id, client_id, event_type, url, body)
		VALUES ($1, $2, $3, 'report.failed', 'https://default.example/hooks', '{}')`, ids.New("msg"), rep.ID, client); err == nil {
		t.Fatal("a second report.failed to the default target was accepted")
	}
}

func migrateUp(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	if err := postgres.Migrate(context.Background(), pool, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
}
