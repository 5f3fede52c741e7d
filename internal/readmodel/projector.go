package readmodel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/reportd/reportd/internal/domain"
)

// Projection names, as the checkpoints, Status and Rebuild know them.
const (
	ProjectionCustomerOrderHistory = "customer_order_history"
	ProjectionMerchantDailySales   = "merchant_daily_sales"
)

// projection is one consumer of the log. Each keeps its own per-order fold
// in stateTable; merchant_daily_sales also turns fold changes into deltas.
type projection struct {
	name       string
	stateTable string
	daily      bool
}

func projections() []projection {
	return []projection{
		{name: ProjectionCustomerOrderHistory, stateTable: "customer_order_history"},
		{name: ProjectionMerchantDailySales, stateTable: "merchant_sales_orders", daily: true},
	}
}

func findProjection(name string) ([]projection, error) {
	all := projections()
	if name == "" {
		return all, nil
	}
	for _, p := range all {
		if p.name == name {
			return []projection{p}, nil
		}
	}
	return nil, fmt.Errorf("unknown projection %q", name)
}

const stateColumns = `client_id, order_id, last_sequence, customer_id, merchant_id, status,
	placed_at, paid_at, shipped_at, cancelled_at, item_count, currency,
	total_cents, refunded_cents, carrier, tracking_number, tax_cents`

type orderKey struct {
	ClientID, OrderID string
}

// ProjectOnce catches every projection up with the log, a few thousand
// events per transaction, partition by partition. applied is the number of
// log events the furthest projection moved past. A partition another process
// holds a live lease on, or is passing over, is skipped.
func (s *Store) ProjectOnce(ctx context.Context) (applied int, err error) {
	// Projections are independent, so they catch up side by side, each on
	// its own connection.
	ps := projections()
	counts := make([]int, len(ps))
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() { counts[i], errs[i] = s.projectOnce(ctx, p) })
	}
	wg.Wait()
	return slices.Max(counts), errors.Join(errs...)
}

func (s *Store) projectOnce(ctx context.Context, p projection) (int, error) {
	if err := s.ensurePartitions(ctx, p); err != nil {
		return 0, err
	}
	n, err := s.partitionCount(ctx, p)
	if err != nil {
		return 0, err
	}
	total := 0
	for i := range n {
		c, _, err := s.catchUp(ctx, p, i, nil, nil)
		total += c
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// catchUp passes over one partition until it has read the whole log, or
// until stop (if not nil) says to stop between passes. Without a lease it
// skips a partition that is leased or locked; with one, held is false when
// the lease was lost (nothing was applied under it then).
func (s *Store) catchUp(ctx context.Context, p projection, index int, l *lease, stop func() bool) (total int, held bool, err error) {
	for {
		n, ok := 0, false
		err := s.inPassTx(ctx, func(tx pgx.Tx) error {
			cp, count, locked, err := lockPartition(ctx, tx, p, index, l, s.owner)
			if err != nil || !locked {
				return err
			}
			ok = true
			var next int64
			n, next, err = s.pass(ctx, tx, p, partition{projection: p, index: index, count: count}, cp, toHead, s.batchSize)
			if err != nil || next == cp {
				return err
			}
			return s.movePartition(ctx, tx, p, index, next, l)
		})
		if err != nil {
			return total, true, fmt.Errorf("project %s partition %d: %w", p.name, index, err)
		}
		total += n
		if !ok {
			return total, false, nil
		}
		if n < s.batchSize || (stop != nil && stop()) {
			return total, true, nil
		}
	}
}

// inPassTx runs fn in a transaction, again if Postgres broke a deadlock or a
// serialisation conflict by aborting it: passes over different partitions
// may meet on shared rows (merchant_daily_sales), and a retried pass starts
// over from its checkpoint, so nothing is applied twice.
func (s *Store) inPassTx(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.write, fn)
		var pgErr *pgconn.PgError
		if attempt < 5 && errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001") {
			s.logger.WarnContext(ctx, "projection pass aborted by a conflict; retrying", "error", err, "attempt", attempt)
			continue
		}
		return err
	}
}

// pass applies up to limit log events of partition part after checkpoint cp,
// and none after upTo unless it is toHead, inside tx, which must hold the
// partition's checkpoint lock (part.count 0: every order, for a version
// with a single checkpoint, such as a rebuild's). It returns how many log
// events it consumed and the new checkpoint: the last event's position, or,
// when the pass read to the end of the log (or to upTo), the log head the
// same statement saw (or upTo): appends commit in position order, so nothing
// below the head can still appear. The caller stores the checkpoint.
func (s *Store) pass(ctx context.Context, tx pgx.Tx, p projection, part partition, cp, upTo int64, limit int) (int, int64, error) {
	// A partition reads only its own events, through its count's partition
	// index (see partindex.go); part.count 0 or 1 reads the whole log.
	where, orderBy := partitionRange(part.count, s.partitionIndexed(ctx, tx, part.count), "$4::int", "$1::bigint", "coalesce(h.head, 0)")
	args := []any{cp, limit, upTo}
	if part.count > 1 {
		args = append(args, part.index)
	}
	rows, err := tx.Query(ctx, `
		SELECT h.head, e.position, e.client_id, e.order_id, e.sequence, e.type, e.schema_version, e.occurred_at, e.data
		FROM (SELECT CASE WHEN $3 < 0 THEN max(position) ELSE least(max(position), $3) END AS head FROM order_events) h
		LEFT JOIN LATERAL (
			SELECT position, client_id, order_id, sequence, type, schema_version, occurred_at, data
			FROM order_events
			WHERE `+where+`
			ORDER BY `+orderBy+` LIMIT $2) e ON true
		ORDER BY e.position`, args...)
	if err != nil {
		return 0, cp, fmt.Errorf("read log after %d: %w", cp, err)
	}
	head, events, err := scanPassEvents(rows, limit)
	if err != nil {
		return 0, cp, fmt.Errorf("read log after %d: %w", cp, err)
	}
	next := max(cp, head)
	if len(events) == limit {
		next = events[len(events)-1].Position
	}
	if len(events) == 0 {
		return 0, next, nil
	}

	// Group by order, in order of first appearance (keeps writes deterministic).
	byOrder := make(map[orderKey][]*logEvent)
	var keys []orderKey
	for i := range events {
		e := &events[i]
		k := orderKey{e.ClientID, e.OrderID}
		if _, ok := byOrder[k]; !ok {
			keys = append(keys, k)
		}
		byOrder[k] = append(byOrder[k], e)
	}
	if err := s.foldOrders(ctx, tx, p, keys, byOrder); err != nil {
		return 0, cp, err
	}
	return len(events), next, nil
}

// scanPassEvents reads pass's rows: the head on every row, and an event on
// every row unless there is none.
func scanPassEvents(rows pgx.Rows, capacity int) (int64, []logEvent, error) {
	defer rows.Close()
	var head int64
	events := make([]logEvent, 0, capacity)
	for rows.Next() {
		var (
			head0              *int64
			pos, seq           *int64
			client, order, typ *string
			version            *int
			occurred           *time.Time
			data               []byte
		)
		if err := rows.Scan(&head0, &pos, &client, &order, &seq, &typ, &version, &occurred, &data); err != nil {
			return 0, nil, err
		}
		if head0 != nil {
			head = *head0
		}
		if pos == nil {
			continue
		}
		events = append(events, logEvent{Position: *pos, ClientID: *client, OrderID: *order, Sequence: *seq,
			Type: *typ, Version: *version, OccurredAt: *occurred, Data: data})
	}
	return head, events, rows.Err()
}

// foldOrders folds the given orders' held events and their new ones (fresh,
// which may be empty) and writes the result inside tx, which must hold the
// row lock of the orders' partitions.
func (s *Store) foldOrders(ctx context.Context, tx pgx.Tx, p projection, keys []orderKey, fresh map[orderKey][]*logEvent) error {
	clientIDs := make([]string, len(keys))
	orderIDs := make([]string, len(keys))
	for i, k := range keys {
		clientIDs[i], orderIDs[i] = k.ClientID, k.OrderID
	}
	states, held, err := s.loadOrders(ctx, tx, p, clientIDs, orderIDs)
	if err != nil {
		return err
	}
	folds := make([]*orderFold, 0, len(keys))
	for _, k := range keys {
		folds = append(folds, foldOrder(p, k, states[k], held[k], fresh[k], s.decode))
	}
	return s.writeFolds(ctx, tx, p, folds)
}

// orderFold is one order's part of a pass: its events in sequence order and
// what became of each. An event is applied when it is next in sequence, held
// while an earlier one is missing or parked, dropped when it is at or behind
// the fold (impossible, as (order_id, sequence) is unique in the log), and
// parked when it is next but fails to apply.
type orderFold struct {
	before  *orderState // nil: the order had no fold yet
	pending []*logEvent
	wasHeld map[int64]bool // by position: came from projection_held
	dropped map[int64]bool // by position
	applied map[int64]int  // by position: index into steps
	steps   []orderState   // steps[i]: the fold after the i+1 first applied events
	parked  *logEvent      // the event that failed to apply, if any
	parkErr string
}

func foldOrder(p projection, k orderKey, before *orderState, held, fresh []*logEvent, decode decodeFunc) *orderFold {
	f := &orderFold{
		before:  before,
		pending: make([]*logEvent, 0, len(held)+len(fresh)),
		wasHeld: make(map[int64]bool, len(held)),
		dropped: map[int64]bool{},
		applied: make(map[int64]int, len(held)+len(fresh)),
	}
	f.pending = append(f.pending, held...)
	f.pending = append(f.pending, fresh...)
	slices.SortFunc(f.pending, func(a, b *logEvent) int { return cmp.Compare(a.Sequence, b.Sequence) })
	for _, e := range held {
		f.wasHeld[e.Position] = true
	}
	cur := orderState{ClientID: k.ClientID, OrderID: k.OrderID}
	var blocked error
	if before != nil {
		cur = *before
		if p.daily {
			// A fold written before the money rules existed cannot be taken
			// back out of its day; park rather than corrupt the day.
			if _, _, _, err := before.contribution(); err != nil {
				blocked = fmt.Errorf("the order's stored fold breaks the money rules (rebuild the projection): %w", err)
			}
		}
	}
	for _, e := range f.pending {
		switch {
		case e.Sequence <= cur.LastSequence:
			f.dropped[e.Position] = true
		case f.parked == nil && e.Sequence == cur.LastSequence+1:
			err := blocked
			if err == nil {
				err = cur.apply(e, decode)
			}
			if err != nil {
				f.parked, f.parkErr = e, err.Error()
				continue
			}
			f.applied[e.Position] = len(f.steps)
			f.steps = append(f.steps, cur)
		}
		// Anything else waits in projection_held.
	}
	return f
}

// plan adds to w what the fold writes when only its first m applied events
// are kept and park (if not nil) is parked with parkErr: the new fold and
// its change to merchant_daily_sales, the held events it releases, the new
// ones it holds and the parked one.
func (f *orderFold) plan(w *writes, p projection, m int, park *logEvent, parkErr string) error {
	if m > 0 {
		st := &f.steps[m-1]
		if p.daily {
			// Both shares first: a fold whose share cannot be computed
			// writes nothing (apply checks the same rules, so it never
			// happens).
			kb, sb, okb, err1 := f.before.contribution()
			ka, sa, oka, err2 := st.contribution()
			if err := errors.Join(err1, err2); err != nil {
				return fmt.Errorf("order %s: %w", st.OrderID, err)
			}
			if okb {
				w.contribute(kb, sb, -1)
			}
			if oka {
				w.contribute(ka, sa, 1)
			}
		}
		w.state(st)
	}
	for _, e := range f.pending {
		i, applied := f.applied[e.Position]
		switch {
		case f.dropped[e.Position], applied && i < m:
			if f.wasHeld[e.Position] {
				w.release(e)
			}
		case e == park:
			w.park(e, parkErr)
			if f.wasHeld[e.Position] {
				w.release(e)
			}
		case !f.wasHeld[e.Position]:
			w.hold(e)
		}
	}
	return nil
}

// writeFolds writes every fold of a pass in one batch. Should a value of one
// order make the database refuse the batch (a data exception, a constraint,
// an index row too large), it writes the folds one by one instead, and parks
// the event of an order whose fold the database refuses.
func (s *Store) writeFolds(ctx context.Context, tx pgx.Tx, p projection, folds []*orderFold) error {
	w := newWrites()
	var err error
	for _, f := range folds {
		if err = f.plan(w, p, len(f.steps), f.parked, f.parkErr); err != nil {
			break
		}
	}
	if err == nil {
		err = s.sendWrites(ctx, tx, p, w)
		if !isValueError(err) {
			return err
		}
	}
	s.logger.WarnContext(ctx, "a pass's writes failed on one order's values; writing order by order", "projection", p.name, "error", err)
	for _, f := range folds {
		if err := s.writeFoldAlone(ctx, tx, p, f); err != nil {
			return err
		}
	}
	return nil
}

// writeFoldAlone writes one fold, keeping as many of its applied events as
// can be written and parking the first one that cannot.
func (s *Store) writeFoldAlone(ctx context.Context, tx pgx.Tx, p projection, f *orderFold) error {
	m, park, parkErr := len(f.steps), f.parked, f.parkErr
	for {
		w := newWrites()
		err := f.plan(w, p, m, park, parkErr)
		if err == nil {
			err = s.sendWrites(ctx, tx, p, w)
			if m == 0 || !isValueError(err) {
				return err
			}
			err = fmt.Errorf("write the order's fold: %w", err)
		}
		// Keep one applied event fewer and park the one after the kept ones.
		m--
		for _, e := range f.pending {
			if i, ok := f.applied[e.Position]; ok && i == m {
				park, parkErr = e, err.Error()
			}
		}
	}
}

// sendWrites sends w inside a savepoint, so that a refused write leaves the
// transaction usable, and logs what it parked.
func (s *Store) sendWrites(ctx context.Context, tx pgx.Tx, p projection, w *writes) error {
	b := &pgx.Batch{}
	b.Queue("SAVEPOINT fold_writes")
	w.queue(b, p)
	if b.Len() == 1 {
		return nil
	}
	b.Queue("RELEASE SAVEPOINT fold_writes")
	err := tx.SendBatch(ctx, b).Close()
	if err != nil {
		if isValueError(err) {
			if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT fold_writes; RELEASE SAVEPOINT fold_writes"); rerr != nil {
				return fmt.Errorf("write projection: %w (and roll back: %w)", err, rerr)
			}
		}
		return fmt.Errorf("write projection: %w", err)
	}
	for i := range w.pClient {
		s.logger.WarnContext(ctx, "parked an order event that cannot be applied",
			"projection", p.name, "client_id", w.pClient[i], "order_id", w.pOrder[i],
			"sequence", w.pSeq[i], "position", w.pPos[i], "error", w.pErr[i])
	}
	return nil
}

// isValueError says whether err is the database refusing a value (data
// exception, integrity constraint, program limit such as an index row too
// large): something one order's data can cause, unlike a lost connection.
func isValueError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}

func scanEvents(rows pgx.Rows, capacity int) ([]logEvent, error) {
	defer rows.Close()
	events := make([]logEvent, 0, capacity)
	for rows.Next() {
		var e logEvent
		if err := rows.Scan(&e.Position, &e.ClientID, &e.OrderID, &e.Sequence, &e.Type, &e.Version, &e.OccurredAt, &e.Data); err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, rows.Err()
}

// loadOrders reads the current fold and the held events of the given orders.
func (s *Store) loadOrders(ctx context.Context, tx pgx.Tx, p projection, clientIDs, orderIDs []string) (map[orderKey]*orderState, map[orderKey][]*logEvent, error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT `+stateColumnsOf("s")+` FROM `+p.stateTable+` s
		JOIN unnest($1::text[], $2::text[]) AS k (client_id, order_id)
		  ON s.client_id = k.client_id AND s.order_id = k.order_id`, clientIDs, orderIDs)
	b.Queue(`SELECT e.position, e.client_id, e.order_id, e.sequence, e.type, e.schema_version, e.occurred_at, e.data
		FROM projection_held h
		JOIN unnest($2::text[], $3::text[]) AS k (client_id, order_id)
		  ON h.client_id = k.client_id AND h.order_id = k.order_id
		JOIN order_events e ON e.position = h.position
		WHERE h.projection = $1`, p.name, clientIDs, orderIDs)
	br := tx.SendBatch(ctx, b)
	defer br.Close()

	states := make(map[orderKey]*orderState, len(clientIDs))
	rows, err := br.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("load order folds: %w", err)
	}
	for rows.Next() {
		st := &orderState{}
		if err := rows.Scan(&st.ClientID, &st.OrderID, &st.LastSequence, &st.CustomerID, &st.MerchantID, &st.Status,
			&st.PlacedAt, &st.PaidAt, &st.ShippedAt, &st.CancelledAt, &st.ItemCount, &st.Currency,
			&st.TotalCents, &st.RefundedCents, &st.Carrier, &st.TrackingNumber, &st.TaxCents); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("load order folds: %w", err)
		}
		states[orderKey{st.ClientID, st.OrderID}] = st
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("load order folds: %w", err)
	}

	rows, err = br.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("load held events: %w", err)
	}
	heldEvents, err := scanEvents(rows, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("load held events: %w", err)
	}
	held := make(map[orderKey][]*logEvent)
	for i := range heldEvents {
		e := &heldEvents[i]
		k := orderKey{e.ClientID, e.OrderID}
		held[k] = append(held[k], e)
	}
	return states, held, br.Close()
}

func stateColumnsOf(alias string) string {
	cols := []string{"client_id", "order_id", "last_sequence", "customer_id", "merchant_id", "status",
		"placed_at", "paid_at", "shipped_at", "cancelled_at", "item_count", "currency",
		"total_cents", "refunded_cents", "carrier", "tracking_number", "tax_cents"}
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = alias + "." + c
	}
	return strings.Join(out, ", ")
}

// maxErrorLen bounds a parked event's error text.
const maxErrorLen = 2000

// writes collects one pass's changes as columns, sent as set-based statements.
type writes struct {
	// folds
	sClient, sOrder, sCustomer, sMerchant, sStatus, sCurrency, sCarrier, sTracking []string
	sSeq, sTotal, sRefunded, sTax                                                  []int64
	sPlaced, sPaid, sShipped, sCancelled                                           []*time.Time
	sItems                                                                         []int32
	// held events released and newly held
	rClient, rOrder []string
	rSeq            []int64
	hClient, hOrder []string
	hSeq, hPos      []int64
	// parked events
	pClient, pOrder, pErr []string
	pSeq, pPos            []int64
	// merchant_daily_sales deltas
	deltas map[dayKey]*dayDelta
}

func newWrites() *writes { return &writes{deltas: map[dayKey]*dayDelta{}} }

func (w *writes) state(st *orderState) {
	w.sClient = append(w.sClient, st.ClientID)
	w.sOrder = append(w.sOrder, st.OrderID)
	w.sSeq = append(w.sSeq, st.LastSequence)
	w.sCustomer = append(w.sCustomer, st.CustomerID)
	w.sMerchant = append(w.sMerchant, st.MerchantID)
	w.sStatus = append(w.sStatus, st.Status)
	w.sPlaced = append(w.sPlaced, st.PlacedAt)
	w.sPaid = append(w.sPaid, st.PaidAt)
	w.sShipped = append(w.sShipped, st.ShippedAt)
	w.sCancelled = append(w.sCancelled, st.CancelledAt)
	w.sItems = append(w.sItems, st.ItemCount)
	w.sCurrency = append(w.sCurrency, st.Currency)
	w.sTotal = append(w.sTotal, st.TotalCents)
	w.sRefunded = append(w.sRefunded, st.RefundedCents)
	w.sCarrier = append(w.sCarrier, st.Carrier)
	w.sTracking = append(w.sTracking, st.TrackingNumber)
	w.sTax = append(w.sTax, st.TaxCents)
}

func (w *writes) release(e *logEvent) {
	w.rClient = append(w.rClient, e.ClientID)
	w.rOrder = append(w.rOrder, e.OrderID)
	w.rSeq = append(w.rSeq, e.Sequence)
}

func (w *writes) hold(e *logEvent) {
	w.hClient = append(w.hClient, e.ClientID)
	w.hOrder = append(w.hOrder, e.OrderID)
	w.hSeq = append(w.hSeq, e.Sequence)
	w.hPos = append(w.hPos, e.Position)
}

func (w *writes) park(e *logEvent, msg string) {
	if len(msg) > maxErrorLen {
		msg = strings.ToValidUTF8(msg[:maxErrorLen], "") + "…"
	}
	w.pClient = append(w.pClient, e.ClientID)
	w.pOrder = append(w.pOrder, e.OrderID)
	w.pSeq = append(w.pSeq, e.Sequence)
	w.pPos = append(w.pPos, e.Position)
	w.pErr = append(w.pErr, msg)
}

// contribute adds (sign +1) or takes back (-1) an order's share of its day.
func (w *writes) contribute(k dayKey, sh share, sign int64) {
	d := w.deltas[k]
	if d == nil {
		d = &dayDelta{}
		w.deltas[k] = d
	}
	d.add(sh, sign)
}

func (w *writes) queue(b *pgx.Batch, p projection) {
	if len(w.sClient) > 0 {
		//nolint:unqueryvet // SELECT * FROM unnest of the batch's own arrays; the INSERT names the columns
		b.Queue(`INSERT INTO `+p.stateTable+` (`+stateColumns+`)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],
				$7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::int[], $12::text[],
				$13::bigint[], $14::bigint[], $15::text[], $16::text[], $17::bigint[])
			ON CONFLICT (client_id, order_id) DO UPDATE SET
				last_sequence = EXCLUDED.last_sequence, customer_id = EXCLUDED.customer_id,
				merchant_id = EXCLUDED.merchant_id, status = EXCLUDED.status,
				placed_at = EXCLUDED.placed_at, paid_at = EXCLUDED.paid_at,
				shipped_at = EXCLUDED.shipped_at, cancelled_at = EXCLUDED.cancelled_at,
				item_count = EXCLUDED.item_count, currency = EXCLUDED.currency,
				total_cents = EXCLUDED.total_cents, refunded_cents = EXCLUDED.refunded_cents,
				carrier = EXCLUDED.carrier, tracking_number = EXCLUDED.tracking_number,
				tax_cents = EXCLUDED.tax_cents`,
			w.sClient, w.sOrder, w.sSeq, w.sCustomer, w.sMerchant, w.sStatus,
			w.sPlaced, w.sPaid, w.sShipped, w.sCancelled, w.sItems, w.sCurrency,
			w.sTotal, w.sRefunded, w.sCarrier, w.sTracking, w.sTax)
	}
	if len(w.rClient) > 0 {
		b.Queue(`DELETE FROM projection_held h
			USING unnest($2::text[], $3::text[], $4::bigint[]) AS r (client_id, order_id, sequence)
			WHERE h.projection = $1 AND h.client_id = r.client_id AND h.order_id = r.order_id AND h.sequence = r.sequence`,
			p.name, w.rClient, w.rOrder, w.rSeq)
	}
	if len(w.hClient) > 0 {
		b.Queue(`INSERT INTO projection_held (projection, client_id, order_id, sequence, position)
			SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[])`,
			p.name, w.hClient, w.hOrder, w.hSeq, w.hPos)
	}
	if len(w.pClient) > 0 {
		b.Queue(`INSERT INTO projection_parked (projection, client_id, order_id, sequence, position, error)
			SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[])
			ON CONFLICT (projection, client_id, order_id, sequence) DO UPDATE SET
				position = EXCLUDED.position, error = EXCLUDED.error, parked_at = now()`,
			p.name, w.pClient, w.pOrder, w.pSeq, w.pPos, w.pErr)
	}
	w.queueDays(b)
}

// queueDays adds the merchant_daily_sales deltas: sums are numeric, sent as
// decimal text, so no order's amounts can overflow them.
func (w *writes) queueDays(b *pgx.Batch) {
	var (
		client, merchant, currency []string
		day                        []time.Time
		orders, cancellations      []int64
		gross, refunds, net, tax   []string
		shrinks                    bool // some delta removes an order from a day
	)
	// In key order: passes over different partitions update the same days
	// concurrently, and rows locked in one order cannot deadlock. The sums
	// are increments, so they commute: any interleaving of passes ends at
	// the same totals.
	keys := slices.SortedFunc(maps.Keys(w.deltas), func(a, b dayKey) int {
		return cmp.Or(cmp.Compare(a.ClientID, b.ClientID), cmp.Compare(a.MerchantID, b.MerchantID),
			a.Day.Compare(b.Day), cmp.Compare(a.Currency, b.Currency))
	})
	for _, k := range keys {
		d := w.deltas[k]
		if d.zero() {
			continue
		}
		client = append(client, k.ClientID)
		merchant = append(merchant, k.MerchantID)
		day = append(day, k.Day)
		currency = append(currency, k.Currency)
		orders = append(orders, d.Orders)
		cancellations = append(cancellations, d.Cancellations)
		gross = append(gross, d.Gross.String())
		refunds = append(refunds, d.Refunds.String())
		net = append(net, d.Net.String())
		tax = append(tax, d.Tax.String())
		if d.Orders < 0 {
			shrinks = true
		}
	}
	if len(client) == 0 {
		return
	}
	//nolint:unqueryvet // SELECT * FROM unnest of the batch's own arrays; the INSERT names the columns
	b.Queue(`INSERT INTO merchant_daily_sales AS m
			(client_id, merchant_id, day, currency, orders, cancellations, gross_cents, refunds_cents, net_cents, tax_cents)
		SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::bigint[], $6::bigint[],
			$7::text[]::numeric[], $8::text[]::numeric[], $9::text[]::numeric[], $10::text[]::numeric[])
		ON CONFLICT (client_id, merchant_id, day, currency) DO UPDATE SET
			orders = m.orders + EXCLUDED.orders,
			cancellations = m.cancellations + EXCLUDED.cancellations,
			gross_cents = m.gross_cents + EXCLUDED.gross_cents,
			refunds_cents = m.refunds_cents + EXCLUDED.refunds_cents,
			net_cents = m.net_cents + EXCLUDED.net_cents,
			tax_cents = m.tax_cents + EXCLUDED.tax_cents`,
		client, merchant, day, currency, orders, cancellations, gross, refunds, net, tax)
	if shrinks {
		// A day left with no orders has nothing in it; removing it keeps
		// the table a function of the log, however passes were cut.
		b.Queue(`DELETE FROM merchant_daily_sales m
			USING unnest($1::text[], $2::text[], $3::date[], $4::text[]) AS k (client_id, merchant_id, day, currency)
			WHERE m.client_id = k.client_id AND m.merchant_id = k.merchant_id AND m.day = k.day
			  AND m.currency = k.currency AND m.orders = 0`,
			client, merchant, day, currency)
	}
}

// Status reports every projection's checkpoint, lag and held events, and
// each of its partitions: checkpoint, lag and lease. A projection's Position
// is its lowest partition's, its lag the sum of its partitions' (events a
// partition has not read), so both stay true however far apart the
// partitions are.
func (s *Store) Status(ctx context.Context) ([]domain.ProjectionStatus, error) {
	rows, err := s.write.Query(ctx, `
		SELECT c.name, pos.position, h.head,
		       (SELECT count(*) FROM order_events e WHERE e.position > pos.position),
		       coalesce((SELECT extract(epoch FROM now() - e.recorded_at)::float8 FROM order_events e
		                 WHERE e.position > pos.position ORDER BY e.position LIMIT 1), 0),
		       (SELECT count(*) FROM projection_held p WHERE p.projection = c.name),
		       (SELECT count(*) FROM (SELECT DISTINCT client_id, order_id FROM projection_held p WHERE p.projection = c.name) o),
		       (SELECT count(*) FROM projection_parked p WHERE p.projection = c.name)
		FROM projection_checkpoints c,
		     LATERAL (`+projectionPositionSQL+`) AS pos (position),
		     (SELECT coalesce(max(position), 0) AS head FROM order_events) h
		ORDER BY c.name`)
	if err != nil {
		return nil, fmt.Errorf("read projection status: %w", err)
	}
	var out []domain.ProjectionStatus
	var st domain.ProjectionStatus
	_, err = pgx.ForEachRow(rows, []any{&st.Name, &st.Position, &st.Head, &st.LagEvents, &st.LagSeconds,
		&st.HeldEvents, &st.HeldOrders, &st.ParkedEvents}, func() error {
		st.Partitions = []domain.PartitionStatus{}
		out = append(out, st)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read projection status: %w", err)
	}
	parts, err := s.partitionStatus(ctx)
	if err != nil {
		return nil, err
	}
	for i := range out {
		sum, ok := parts[out[i].Name]
		if !ok {
			continue // not partitioned yet: the single checkpoint is the truth
		}
		out[i].Partitions = sum.partitions
		out[i].Position, out[i].LagEvents, out[i].LagSeconds = sum.partitions[0].Position, 0, sum.lagSeconds
		for _, pt := range sum.partitions {
			out[i].Position = min(out[i].Position, pt.Position)
			out[i].LagEvents += pt.LagEvents
		}
	}
	return out, nil
}

// CaughtUp reports whether every projection has consumed the whole log:
// the report builder waits for it before reading.
func (s *Store) CaughtUp(ctx context.Context) (bool, error) {
	list, err := s.Status(ctx)
	if err != nil {
		return false, err
	}
	for _, p := range list {
		if p.LagEvents > 0 {
			return false, nil
		}
	}
	return true, nil
}

// Position is the log position every projection has reached, read where
// reports are read (the replica, if any): every event up to it is in the
// read model, or held behind a gap or a parked event of its own order, or
// parked. It is the lowest partition checkpoint: each partition's
// checkpoint is the log position it has read up to (not its last own
// event), so a partition with no events up to P counts as past P.
func (s *Store) Position(ctx context.Context) (int64, error) {
	var pos int64
	if err := s.read.QueryRow(ctx, positionSQL).Scan(&pos); err != nil {
		return 0, fmt.Errorf("read projection position: %w", err)
	}
	return pos, nil
}
