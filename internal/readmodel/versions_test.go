package readmodel_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/report"
	"github.com/reportd/reportd/internal/testenv"
)

type versionRow struct {
	Version int
	State   string
	Purpose string
	Schema  string
}

func versions(tb testing.TB, pool *pgxpool.Pool, name string) []versionRow {
	tb.Helper()
	rows, err := pool.Query(context.Background(),
		"SELECT version, state, purpose, schema_name FROM projection_versions WHERE name = $1 ORDER BY version", name)
	if err != nil {
		tb.Fatalf("read versions: %v", err)
	}
	defer rows.Close()
	var out []versionRow
	for rows.Next() {
		var v versionRow
		if err := rows.Scan(&v.Version, &v.State, &v.Purpose, &v.Schema); err != nil {
			tb.Fatalf("read versions: %v", err)
		}
		out = append(out, v)
	}
	return out
}

func schemaExists(tb testing.TB, pool *pgxpool.Pool, schema string) bool {
	tb.Helper()
	var ok bool
	if err := pool.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&ok); err != nil {
		tb.Fatalf("look up schema %s: %v", schema, err)
	}
	return ok
}

// patchOrder changes one order's total in the live projection behind the
// projector's back: a manual patch, which a fresh fold does not reproduce.
func patchOrder(tb testing.TB, pool *pgxpool.Pool, orderID string, total int64) {
	tb.Helper()
	tag, err := pool.Exec(context.Background(), "UPDATE customer_order_history SET total_cents = $2 WHERE client_id = 'cli_a' AND order_id = $1", orderID, total)
	if err != nil || tag.RowsAffected() != 1 {
		tb.Fatalf("patch order %s: %v (%d rows)", orderID, err, tag.RowsAffected())
	}
}

// A rebuild replaces a patched live version with a fresh fold, keeps the
// replaced one in its own schema, and the next rebuild drops it.
func TestRebuildSwapsVersions(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	appendAll(t, s, "cli_a", seedEvents(10, 4), 200, true)
	clean := checksums(t, pool)
	var order string
	if err := pool.QueryRow(ctx, "SELECT order_id FROM customer_order_history ORDER BY order_id LIMIT 1").Scan(&order); err != nil {
		t.Fatal(err)
	}
	patchOrder(t, pool, order, 1)
	// A read role's grant survives the swap (roles are cluster-wide, so
	// the name is the test database's own).
	var reader string
	if err := pool.QueryRow(ctx, "SELECT current_database() || '_reader'").Scan(&reader); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "CREATE ROLE "+reader+" NOLOGIN; GRANT SELECT ON customer_order_history TO "+reader); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP OWNED BY "+reader+"; DROP ROLE "+reader)
	})

	if err := s.Rebuild(ctx, readmodel.ProjectionCustomerOrderHistory, nil); err != nil {
		t.Fatal(err)
	}
	var canRead bool
	if err := pool.QueryRow(ctx, "SELECT has_table_privilege($1, 'public.customer_order_history', 'SELECT')", reader).Scan(&canRead); err != nil || !canRead {
		t.Errorf("%s may read the rebuilt customer_order_history: %t (%v), want true", reader, canRead, err)
	}
	if diff := cmp.Diff(clean, checksums(t, pool)); diff != "" {
		t.Errorf("rebuild did not restore the fold (-want +got):\n%s", diff)
	}
	retired := "reportd_projection_customer_order_history_v1"
	want := []versionRow{
		{1, "retired", "initial", retired},
		{2, "live", "rebuild", "public"},
	}
	if diff := cmp.Diff(want, versions(t, pool, readmodel.ProjectionCustomerOrderHistory)); diff != "" {
		t.Errorf("versions after one rebuild (-want +got):\n%s", diff)
	}
	var patched int64
	if err := pool.QueryRow(ctx, "SELECT total_cents FROM "+retired+".customer_order_history WHERE order_id = $1", order).Scan(&patched); err != nil || patched != 1 {
		t.Errorf("retired version holds total %d (%v), want the patched 1", patched, err)
	}
	var indexes int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname = 'customer_order_history_customer'").Scan(&indexes); err != nil || indexes != 1 {
		t.Errorf("live index customer_order_history_customer: %d (%v), want 1 under its own name", indexes, err)
	}

	// A rollback brings the patched version back, caught up with the log;
	// a second one undoes the first.
	if _, err := s.Append(ctx, "cli_a", []orderevents.Event{
		event("after", 1, orderevents.TypeOrderPlaced, placedItems("cus_1", "mer_1", "EUR", 1, 100), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))}); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollback(ctx, readmodel.ProjectionCustomerOrderHistory, nil); err != nil {
		t.Fatal(err)
	}
	var back int64
	var caughtUp bool
	if err := pool.QueryRow(ctx, `SELECT (SELECT total_cents FROM customer_order_history WHERE order_id = $1),
		EXISTS (SELECT 1 FROM customer_order_history WHERE order_id = 'after')`, order).Scan(&back, &caughtUp); err != nil || back != 1 || !caughtUp {
		t.Errorf("after rollback: total %d, caught up %t (%v); want the patched 1 and the new order", back, caughtUp, err)
	}
	if diff := cmp.Diff([]versionRow{
		{1, "live", "initial", "public"},
		{2, "retired", "rebuild", "reportd_projection_customer_order_history_v2"},
	}, versions(t, pool, readmodel.ProjectionCustomerOrderHistory)); diff != "" {
		t.Errorf("versions after rollback (-want +got):\n%s", diff)
	}
	if err := s.Rollback(ctx, readmodel.ProjectionCustomerOrderHistory, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ProjectOnce(ctx); err != nil {
		t.Fatal(err)
	}
	clean = checksums(t, pool)

	if err := s.Rebuild(ctx, readmodel.ProjectionCustomerOrderHistory, nil); err != nil {
		t.Fatal(err)
	}
	want = []versionRow{
		{1, "dropped", "initial", retired},
		{2, "retired", "rebuild", "reportd_projection_customer_order_history_v2"},
		{3, "live", "rebuild", "public"},
	}
	if err := s.Rollback(ctx, readmodel.ProjectionMerchantDailySales, nil); !errors.Is(err, readmodel.ErrNoRetiredVersion) {
		t.Errorf("rollback of a never rebuilt projection: %v, want ErrNoRetiredVersion", err)
	}
	if diff := cmp.Diff(want, versions(t, pool, readmodel.ProjectionCustomerOrderHistory)); diff != "" {
		t.Errorf("versions after two rebuilds (-want +got):\n%s", diff)
	}
	if schemaExists(t, pool, retired) {
		t.Errorf("schema %s of the version before last still exists", retired)
	}
	if diff := cmp.Diff(clean, checksums(t, pool)); diff != "" {
		t.Errorf("second rebuild changed the rows (-want +got):\n%s", diff)
	}
}

// A rebuild killed half-way resumes from its own checkpoint and ends with
// the same rows as an uninterrupted one.
func TestRebuildResumesAfterKill(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	events := seedEvents(30, 6)
	appendAll(t, s, "cli_a", events, 500, true)
	clean := checksums(t, pool)
	readmodel.SetRebuildSize(s, 100)

	killed, kill := context.WithCancel(ctx)
	err := s.Rebuild(killed, "", func(done, total int64) {
		if done >= 300 {
			kill()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("killed rebuild: %v, want context.Canceled", err)
	}
	if diff := cmp.Diff([]versionRow{
		{1, "live", "initial", "public"},
		{2, "building", "rebuild", "reportd_projection_customer_order_history_v2"},
	}, versions(t, pool, readmodel.ProjectionCustomerOrderHistory)); diff != "" {
		t.Errorf("versions after the kill (-want +got):\n%s", diff)
	}

	var first int64 = -1
	err = s.Rebuild(ctx, readmodel.ProjectionCustomerOrderHistory, func(done, total int64) {
		if first < 0 {
			first = done
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if first < 300+100 {
		t.Errorf("resumed rebuild's first progress is %d events, want past the %d done before the kill", first, 300)
	}
	if err := s.Rebuild(ctx, readmodel.ProjectionMerchantDailySales, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(clean, checksums(t, pool)); diff != "" {
		t.Errorf("resumed rebuild differs (-want +got):\n%s", diff)
	}
	if got := versions(t, pool, readmodel.ProjectionCustomerOrderHistory); len(got) != 2 || got[1].State != "live" {
		t.Errorf("versions after the resumed rebuild: %+v, want version 2 live", got)
	}
}

// A report that started before the swap reads the old version, whole; the
// swap waits for it; the next report reads the new version.
func TestReportDuringRebuildSeesOldVersion(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	appendAll(t, s, "cli_a", []orderevents.Event{
		event("o1", 1, orderevents.TypeOrderPlaced, placedItems("cus_1", "mer_1", "EUR", 1, 100), at),
		event("o2", 1, orderevents.TypeOrderPlaced, placedItems("cus_1", "mer_1", "EUR", 2, 100), at.Add(time.Hour)),
	}, 10, true)
	patchOrder(t, pool, "o1", 999)
	patchOrder(t, pool, "o2", 998)
	params := report.Params{CustomerID: "cus_1", From: "2026-03-01", To: "2026-03-01"}
	totals := func(doc report.Document) []int64 {
		var out []int64
		for r, err := range doc.Orders {
			if err != nil {
				t.Fatalf("read report rows: %v", err)
			}
			out = append(out, r.TotalCents)
		}
		return out
	}

	rebuilt := make(chan error, 1)
	err := s.OpenDocument(ctx, "cli_a", report.TypeOrderHistory, params, 0, func(doc report.Document) error {
		go func() { rebuilt <- s.Rebuild(ctx, readmodel.ProjectionCustomerOrderHistory, nil) }()
		testenv.Eventually(t, 30*time.Second, "the swap waits for the report's lock", func() bool {
			var waiting int
			err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'public.customer_order_history'::regclass").Scan(&waiting)
			return err == nil && waiting > 0
		})
		if diff := cmp.Diff([]int64{999, 998}, totals(doc)); diff != "" {
			t.Errorf("report during the rebuild (-old version +got):\n%s", diff)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-rebuilt; err != nil {
		t.Fatal(err)
	}
	err = s.OpenDocument(ctx, "cli_a", report.TypeOrderHistory, params, 0, func(doc report.Document) error {
		if diff := cmp.Diff([]int64{100, 200}, totals(doc)); diff != "" {
			t.Errorf("report after the rebuild (-new version +got):\n%s", diff)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Verify of an untouched projection finds no drift, records 0 and drops its
// shadow; after a manual patch it lists the patched row on both sides and
// fails with ErrDrift.
func TestVerify(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	appendAll(t, s, "cli_a", seedEvents(10, 4), 200, true)
	// Appended but not projected: verify brings the live projection up to
	// the fresh one before comparing.
	if _, err := s.Append(ctx, "cli_a", []orderevents.Event{
		event("late", 1, orderevents.TypeOrderPlaced, placedItems("cus_1", "mer_1", "EUR", 1, 100), at)}); err != nil {
		t.Fatal(err)
	}

	res, err := s.Verify(ctx, "", 10, nil)
	if err != nil {
		t.Fatalf("verify without drift: %v", err)
	}
	for _, r := range res {
		if r.DriftRows != 0 || len(r.Rows) != 0 {
			t.Errorf("%s: %d drift rows %v, want none", r.Projection, r.DriftRows, r.Rows)
		}
	}
	if got := versions(t, pool, readmodel.ProjectionCustomerOrderHistory); len(got) != 2 || got[1].State != "dropped" || got[1].Purpose != "verify" {
		t.Errorf("versions after verify: %+v, want the verify's version dropped", got)
	}
	if schemaExists(t, pool, "reportd_projection_customer_order_history_v2") {
		t.Error("verify left its shadow schema behind")
	}
	status, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range status {
		if st.LagEvents != 0 {
			t.Errorf("%s lags %d events after verify, want it moved to the head", st.Name, st.LagEvents)
		}
	}

	patchOrder(t, pool, "late", 5)
	res, err = s.Verify(ctx, readmodel.ProjectionCustomerOrderHistory, 10, nil)
	if !errors.Is(err, readmodel.ErrDrift) {
		t.Fatalf("verify after a patch: %v, want ErrDrift", err)
	}
	type seen struct {
		Table, Side string
		Order       string
		Total       int64
	}
	var got []seen
	for _, r := range res[0].Rows {
		var row struct {
			OrderID    string `json:"order_id"`
			TotalCents int64  `json:"total_cents"`
		}
		if err := json.Unmarshal(r.Row, &row); err != nil {
			t.Fatal(err)
		}
		got = append(got, seen{r.Table, r.Side, row.OrderID, row.TotalCents})
	}
	want := []seen{
		{"customer_order_history", "live", "late", 5},
		{"customer_order_history", "rebuilt", "late", 100},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("drift rows (-want +got):\n%s", diff)
	}
	if res[0].DriftRows != 2 || res[0].Truncated {
		t.Errorf("drift %d rows, truncated %t; want 2, false", res[0].DriftRows, res[0].Truncated)
	}

	drift, err := s.Drift(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, d := range drift {
		counts[d.Name] = d.DriftRows
		if d.CheckedAt <= 0 {
			t.Errorf("%s: checked at %v", d.Name, d.CheckedAt)
		}
	}
	if diff := cmp.Diff(map[string]int64{readmodel.ProjectionCustomerOrderHistory: 2, readmodel.ProjectionMerchantDailySales: 0}, counts); diff != "" {
		t.Errorf("recorded drift (-want +got):\n%s", diff)
	}

	// Bounded output: one row shown, the count still whole.
	res, err = s.Verify(ctx, readmodel.ProjectionCustomerOrderHistory, 1, nil)
	if !errors.Is(err, readmodel.ErrDrift) || len(res[0].Rows) != 1 || res[0].DriftRows != 2 || !res[0].Truncated {
		t.Errorf("verify with 1 row shown: %v, %d rows of %d, truncated %t", err, len(res[0].Rows), res[0].DriftRows, res[0].Truncated)
	}
}

// Two rebuilds of one projection at once: the second is refused, not
// interleaved.
func TestRebuildRefusesConcurrentRun(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	appendAll(t, s, "cli_a", seedEvents(5, 2), 200, true)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtextextended('reportd projection version ' || $1, 0))", readmodel.ProjectionCustomerOrderHistory); err != nil {
		t.Fatal(err)
	}
	if err := s.Rebuild(ctx, readmodel.ProjectionCustomerOrderHistory, nil); !errors.Is(err, readmodel.ErrVersionBusy) {
		t.Errorf("rebuild while another runs: %v, want ErrVersionBusy", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock_all()"); err != nil {
		t.Fatal(err)
	}
}

// An empty log rebuilds and verifies to empty projections at position 0.
func TestRebuildAndVerifyEmptyLog(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if err := s.Rebuild(ctx, "", nil); err != nil {
		t.Fatal(err)
	}
	res, err := s.Verify(ctx, "", 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Position != 0 || r.DriftRows != 0 {
			t.Errorf("%s: position %d, %d drift rows; want 0, 0", r.Projection, r.Position, r.DriftRows)
		}
	}
}
