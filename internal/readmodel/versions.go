package readmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/domain"
)

// Blue/green projection versions.
//
// A rebuild builds a new version of a projection beside the live one: its
// own Postgres schema (versionSchema) holds tables created LIKE the live
// ones plus its own projection_checkpoints, projection_held and
// projection_parked. The projector's own pass runs on it, in transactions
// whose search_path puts that schema first (order_events stays in public),
// so there is one fold, not two. Each batch is a short transaction that
// moves the shadow's own checkpoint, so a rebuild that dies resumes where it
// stopped, and nothing but the shadow is locked while it catches up.
//
// The swap is one short transaction: it locks the live checkpoint (the live
// projector skips it) and the live tables (ACCESS EXCLUSIVE, bounded by
// lock_timeout and retried, so a report reading the old version in its
// snapshot finishes first), applies the last events to the shadow, moves the
// live tables into a schema of their own and the shadow's into public,
// replaces the projection's held and parked rows with the shadow's and sets
// the live checkpoint to the shadow's. The retired version stays in its
// schema for a manual rollback until the next rebuild of that projection.
//
// A verify builds the same shadow, brings it and the live version to the
// same log position, reports every row that differs and drops the shadow.

// SwapOptions bound how long a rebuild's (or a rollback's) swap waits for
// the live tables: at most LockTimeout per try (readers queue behind the
// waiting swap meanwhile), Attempts tries, the shadow catching up between
// them.
type SwapOptions struct {
	LockTimeout time.Duration
	Attempts    int
}

// Default swap options.
const (
	DefaultSwapLockTimeout = 2 * time.Second
	DefaultSwapAttempts    = 30
)

// WithSwap sets how s's swaps wait for the live tables; zero fields keep
// their defaults.
func (s *Store) WithSwap(o SwapOptions) *Store {
	if o.LockTimeout > 0 {
		s.swapLockTimeout = o.LockTimeout
	}
	if o.Attempts > 0 {
		s.swapAttempts = o.Attempts
	}
	return s
}

// Purposes of a version, as projection_versions records them.
const (
	purposeRebuild = "rebuild"
	purposeVerify  = "verify"
)

// ErrDrift means a verify found the live projection differing from a fresh
// fold of the log.
var ErrDrift = errors.New("projection drift: the live projection differs from a fresh fold of the log")

// ErrVersionBusy means another rebuild or verify of the projection runs.
var ErrVersionBusy = errors.New("another rebuild or verify of this projection is running")

// versionSchema names the schema that holds version v of a projection while
// it is not live: while it is built, and once retired.
func versionSchema(name string, v int) string {
	return "reportd_projection_" + name + "_v" + strconv.Itoa(v)
}

// tables are the live tables a projection owns outright (projection_held
// and projection_parked are shared by projection name).
func (p projection) tables() []string {
	if p.daily {
		return []string{p.stateTable, "merchant_daily_sales"}
	}
	return []string{p.stateTable}
}

// bookkeeping are the projector's own tables, of which each shadow has a copy.
var bookkeeping = []string{"projection_checkpoints", "projection_held", "projection_parked"}

// shadow is a version being built beside the live one.
type shadow struct {
	p       projection
	version int
	schema  string
	purpose string
}

func qualified(schema, table string) string { return pgx.Identifier{schema, table}.Sanitize() }

// The checkpoint layouts: a version being built (or retired) has one
// checkpoint, a row of its own projection_checkpoints; the live version has
// one per partition (projection_partitions, see partitions.go). After a
// swap every live partition checkpoint equals the rebuilt position.

// initShadowCheckpoint starts the shadow's own checkpoint at the log's start.
func initShadowCheckpoint(ctx context.Context, tx pgx.Tx, sh *shadow) error {
	_, err := tx.Exec(ctx, "INSERT INTO "+qualified(sh.schema, "projection_checkpoints")+" (name, position) VALUES ($1, 0)", sh.p.name)
	return err
}

// lockCheckpoint locks the single checkpoint of p that tx's search_path
// finds (a shadow's) and returns its position.
func lockCheckpoint(ctx context.Context, tx pgx.Tx, p projection) (int64, error) {
	var cp int64
	if err := tx.QueryRow(ctx, "SELECT position FROM projection_checkpoints WHERE name = $1 FOR UPDATE", p.name).Scan(&cp); err != nil {
		return 0, fmt.Errorf("lock checkpoint of %s: %w", p.name, err)
	}
	return cp, nil
}

// moveCheckpoint moves the single checkpoint of p that tx's search_path
// finds (a shadow's), which tx has locked.
func moveCheckpoint(ctx context.Context, tx pgx.Tx, p projection, cp int64) error {
	if _, err := tx.Exec(ctx, "UPDATE projection_checkpoints SET position = $2, updated_at = now() WHERE name = $1", p.name, cp); err != nil {
		return fmt.Errorf("move checkpoint of %s to %d: %w", p.name, cp, err)
	}
	return nil
}

// lockLive locks the live version's checkpoints: every partition of p
// (the live projector's passes wait), and returns the highest partition
// position.
func lockLive(ctx context.Context, tx pgx.Tx, p projection) (int64, error) {
	if err := lockAllPartitions(ctx, tx, p); err != nil {
		return 0, err
	}
	var hi int64
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(position), 0) FROM projection_partitions WHERE projection = $1", p.name).Scan(&hi); err != nil {
		return 0, fmt.Errorf("read partitions of %s: %w", p.name, err)
	}
	return hi, nil
}

// setLiveCheckpoint moves every live partition checkpoint to the
// swapped-in version's position (re-creating them if PROJECTION_PARTITIONS
// changed: a rebuild is how their number changes).
func (s *Store) setLiveCheckpoint(ctx context.Context, tx pgx.Tx, p projection, pos int64) error {
	return s.resetPartitions(ctx, tx, p, pos)
}

// versionLock holds the session advisory lock that lets one rebuild or
// verify of a projection run at a time; a dead process's lock goes with its
// connection.
func (s *Store) versionLock(ctx context.Context, p projection) (release func(), err error) {
	conn, err := s.write.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock %s versions: %w", p.name, err)
	}
	const lockSQL = "SELECT pg_try_advisory_lock(hashtextextended('reportd projection version ' || $1, 0))"
	var ok bool
	if err := conn.QueryRow(ctx, lockSQL, p.name).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("lock %s versions: %w", p.name, err)
	}
	if !ok {
		conn.Release()
		return nil, fmt.Errorf("%s: %w", p.name, ErrVersionBusy)
	}
	return func() { unlockAndRelease(ctx, conn, p.name) }, nil
}

func unlockAndRelease(ctx context.Context, conn *pgxpool.Conn, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock(hashtextextended('reportd projection version ' || $1, 0))", name); err != nil {
		// Closing the session releases the lock as surely.
		_ = conn.Conn().Close(ctx)
	}
	conn.Release()
}

// openShadow returns the projection's version being built, resuming it
// (whoever started it), or creates one. A rebuild first drops the retired
// versions, as a new rebuild ends their rollback window.
func (s *Store) openShadow(ctx context.Context, p projection, purpose string) (*shadow, error) {
	var sh *shadow
	err := pgx.BeginFunc(ctx, s.write, func(tx pgx.Tx) error {
		sh = &shadow{p: p}
		err := tx.QueryRow(ctx, `SELECT version, schema_name, purpose FROM projection_versions
			WHERE name = $1 AND state = 'building'`, p.name).Scan(&sh.version, &sh.schema, &sh.purpose)
		switch {
		case err == nil:
			if purpose == purposeRebuild && sh.purpose != purposeRebuild {
				// A verify's shadow becomes the rebuild's: it is the same fold.
				sh.purpose = purposeRebuild
				_, err = tx.Exec(ctx, "UPDATE projection_versions SET purpose = $3 WHERE name = $1 AND version = $2", p.name, sh.version, purpose)
			}
			return err
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("find version being built: %w", err)
		}
		if purpose == purposeRebuild {
			if err := dropRetired(ctx, tx, p); err != nil {
				return err
			}
		}
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) + 1 FROM projection_versions WHERE name = $1", p.name).Scan(&sh.version); err != nil {
			return fmt.Errorf("number the new version: %w", err)
		}
		sh.schema, sh.purpose = versionSchema(p.name, sh.version), purpose
		return createShadow(ctx, tx, sh)
	})
	if err != nil {
		return nil, fmt.Errorf("open a new version of %s: %w", p.name, err)
	}
	return sh, nil
}

// createShadow creates the shadow's schema and empty tables, and records it
// as building, all in tx: a build killed here leaves nothing behind.
func createShadow(ctx context.Context, tx pgx.Tx, sh *shadow) error {
	if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{sh.schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s: %w", sh.schema, err)
	}
	for _, t := range append(sh.p.tables(), bookkeeping...) {
		if _, err := tx.Exec(ctx, "CREATE TABLE "+qualified(sh.schema, t)+" (LIKE "+qualified("public", t)+" INCLUDING ALL)"); err != nil {
			return fmt.Errorf("create %s.%s: %w", sh.schema, t, err)
		}
	}
	for _, t := range sh.p.tables() {
		if err := matchIndexNames(ctx, tx, sh.schema, t); err != nil {
			return err
		}
		if err := copyGrants(ctx, tx, sh.schema, t); err != nil {
			return err
		}
	}
	if err := initShadowCheckpoint(ctx, tx, sh); err != nil {
		return fmt.Errorf("start checkpoint of %s: %w", sh.schema, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO projection_versions (name, version, state, purpose, schema_name)
		VALUES ($1, $2, 'building', $3, $4)`, sh.p.name, sh.version, sh.purpose, sh.schema); err != nil {
		return fmt.Errorf("record version %d: %w", sh.version, err)
	}
	return nil
}

// matchIndexNames renames the shadow table's indexes to the live ones'
// names (LIKE makes up its own), so that after a swap migrations still find
// the indexes they created.
func matchIndexNames(ctx context.Context, tx pgx.Tx, schema, table string) error {
	const indexesSQL = `SELECT i.relname, x.indisunique::text || regexp_replace(pg_get_indexdef(i.oid), '^.* USING ', '')
		FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = $1::regclass`
	read := func(rel string) (map[string]string, error) {
		rows, err := tx.Query(ctx, indexesSQL, rel)
		if err != nil {
			return nil, err
		}
		byDef := map[string]string{}
		var name, def string
		_, err = pgx.ForEachRow(rows, []any{&name, &def}, func() error { byDef[def] = name; return nil })
		return byDef, err
	}
	live, err := read(qualified("public", table))
	if err != nil {
		return fmt.Errorf("read indexes of %s: %w", table, err)
	}
	mine, err := read(qualified(schema, table))
	if err != nil {
		return fmt.Errorf("read indexes of %s.%s: %w", schema, table, err)
	}
	for def, name := range mine {
		want, ok := live[def]
		if !ok || want == name {
			continue
		}
		if _, err := tx.Exec(ctx, "ALTER INDEX "+qualified(schema, name)+" RENAME TO "+pgx.Identifier{want}.Sanitize()); err != nil {
			return fmt.Errorf("rename index %s.%s: %w", schema, name, err)
		}
	}
	return nil
}

// copyGrants gives the shadow table the live one's grants (LIKE copies
// none), so that a read-only role that reads reports (a replica's, say)
// can still read the projection after the swap.
func copyGrants(ctx context.Context, tx pgx.Tx, schema, table string) error {
	rows, err := tx.Query(ctx, `SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END
		FROM pg_class c, aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
		WHERE c.oid = $1::regclass AND a.grantee <> c.relowner`, qualified("public", table))
	if err != nil {
		return fmt.Errorf("read grants on %s: %w", table, err)
	}
	var grants []string
	var priv, grantee string
	if _, err := pgx.ForEachRow(rows, []any{&priv, &grantee}, func() error {
		grants = append(grants, "GRANT "+priv+" ON "+qualified(schema, table)+" TO "+grantee)
		return nil
	}); err != nil {
		return fmt.Errorf("read grants on %s: %w", table, err)
	}
	for _, g := range grants {
		if _, err := tx.Exec(ctx, g); err != nil {
			return fmt.Errorf("copy grants of %s: %w", table, err)
		}
	}
	return nil
}

// dropRetired drops the retired versions of p: a new rebuild ends the
// rollback window of the last one.
func dropRetired(ctx context.Context, tx pgx.Tx, p projection) error {
	rows, err := tx.Query(ctx, "SELECT schema_name FROM projection_versions WHERE name = $1 AND state = 'retired'", p.name)
	if err != nil {
		return fmt.Errorf("find retired versions: %w", err)
	}
	schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("find retired versions: %w", err)
	}
	for _, schema := range schemas {
		if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			return fmt.Errorf("drop retired %s: %w", schema, err)
		}
	}
	_, err = tx.Exec(ctx, "UPDATE projection_versions SET state = 'dropped' WHERE name = $1 AND state = 'retired'", p.name)
	return err
}

// inSchema points tx's unqualified table names at schema first (and
// public after it, for order_events) until restore is called or tx ends.
func inSchema(ctx context.Context, tx pgx.Tx, schema string) (restore func() error, err error) {
	var before string
	if err := tx.QueryRow(ctx, "SELECT current_setting('search_path')").Scan(&before); err != nil {
		return nil, fmt.Errorf("read search_path: %w", err)
	}
	if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true)", pgx.Identifier{schema}.Sanitize()+", public"); err != nil {
		return nil, fmt.Errorf("set search_path to %s: %w", schema, err)
	}
	return func() error {
		if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true)", before); err != nil {
			return fmt.Errorf("restore search_path: %w", err)
		}
		return nil
	}, nil
}

// toHead, as the position to catch up to, means the log's head: until a
// pass comes back short.
const toHead int64 = -1

// shadowPasses applies log events to the shadow inside tx, limit at a time,
// up to the position to (or toHead). It
// returns how many events it consumed and the shadow's checkpoint.
func (s *Store) shadowPasses(ctx context.Context, tx pgx.Tx, sh *shadow, to int64, maxPasses int) (int, int64, error) {
	restore, err := inSchema(ctx, tx, sh.schema)
	if err != nil {
		return 0, 0, err
	}
	n, cp, err := s.passesTo(ctx, tx, sh.p, to, maxPasses)
	if err != nil {
		return n, cp, err
	}
	return n, cp, restore()
}

// passesTo runs the projector's pass on the single-checkpoint version tx's
// search_path finds (a shadow), holding its checkpoint lock, until it reaches position to (or
// toHead) or has run maxPasses passes (0: no bound).
func (s *Store) passesTo(ctx context.Context, tx pgx.Tx, p projection, to int64, maxPasses int) (int, int64, error) {
	cp, err := lockCheckpoint(ctx, tx, p)
	if err != nil {
		return 0, 0, err
	}
	total := 0
	for i := 0; maxPasses == 0 || i < maxPasses; i++ {
		limit := s.rebuildSize
		if to != toHead {
			// Positions up to to are all committed (a checkpoint passed
			// them), so counting them bounds the pass exactly.
			var left int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM (SELECT 1 FROM order_events WHERE position > $1 AND position <= $2 LIMIT $3) e",
				cp, to, limit).Scan(&left); err != nil {
				return total, cp, fmt.Errorf("count log events up to %d: %w", to, err)
			}
			if left == 0 {
				return total, cp, nil
			}
			limit = left
		}
		n, next, err := s.pass(ctx, tx, p, partition{projection: p}, cp, to, limit)
		if err != nil {
			return total, cp, err
		}
		if next != cp {
			if err := moveCheckpoint(ctx, tx, p, next); err != nil {
				return total, cp, err
			}
		}
		total += n
		cp = next
		if to == toHead && n < limit {
			return total, cp, nil
		}
	}
	return total, cp, nil
}

// buildShadow catches the shadow up with the log head in short
// transactions, each a pass that moves the shadow's checkpoint.
func (s *Store) buildShadow(ctx context.Context, sh *shadow, progress func(done, total int64)) (done, total int64, err error) {
	err = s.write.QueryRow(ctx, fmt.Sprintf(`SELECT (SELECT count(*) FROM order_events),
		(SELECT count(*) FROM order_events WHERE position <= (SELECT position FROM %s WHERE name = $1))`,
		qualified(sh.schema, "projection_checkpoints")), sh.p.name).Scan(&total, &done)
	if err != nil {
		return 0, 0, fmt.Errorf("count the log: %w", err)
	}
	for {
		var n int
		err := pgx.BeginFunc(ctx, s.write, func(tx pgx.Tx) error {
			var err error
			n, _, err = s.shadowPasses(ctx, tx, sh, toHead, 1)
			return err
		})
		if err != nil {
			return done, total, fmt.Errorf("build %s: %w", sh.schema, err)
		}
		// Counted once committed: what a resumed build starts from.
		done += int64(n)
		total = max(total, done)
		if progress != nil && n > 0 {
			progress(done, total)
		}
		if n < s.rebuildSize {
			return done, total, nil
		}
	}
}

// Rebuild rebuilds one projection (or all, for "") blue/green: it builds a
// new version from the log beside the live one, resuming a build that died,
// and swaps it in atomically (see the comment at the top of versions.go).
// Readers see the old version, whole, until the swap commits, and the new one
// after; the live projector goes on meanwhile. progress is called after each
// pass with events done and the log's size.
func (s *Store) Rebuild(ctx context.Context, name string, progress func(done, total int64)) error {
	ps, err := findProjection(name)
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	for _, p := range ps {
		if err := s.rebuild(ctx, p, progress); err != nil {
			return fmt.Errorf("rebuild %s: %w", p.name, err)
		}
	}
	return nil
}

func (s *Store) rebuild(ctx context.Context, p projection, progress func(done, total int64)) error {
	start := time.Now()
	release, err := s.versionLock(ctx, p)
	if err != nil {
		return err
	}
	defer release()
	// The live version's partitions must exist to be swapped out.
	if _, err := s.createPartitions(ctx, p); err != nil {
		return err
	}
	// The swap re-partitions into s.partitions: their index first, so the
	// new partitions read only their own events from their first pass.
	if err := s.ensurePartitionIndex(ctx, s.partitions); err != nil {
		return err
	}
	sh, err := s.openShadow(ctx, p, purposeRebuild)
	if err != nil {
		return err
	}
	done, total, err := s.buildShadow(ctx, sh, progress)
	if err != nil {
		return err
	}
	n, pos, swapTook, err := s.swapWithRetry(ctx, sh)
	if err != nil {
		return err
	}
	done += int64(n)
	total = max(total, done)
	if progress != nil {
		progress(done, total)
	}
	s.logger.InfoContext(ctx, "projection rebuilt and swapped in", "projection", p.name, "version", sh.version,
		"position", pos, "events", done, "duration", time.Since(start), "swap_duration", swapTook)
	return nil
}

// ErrNoRetiredVersion means there is no retired version to roll back to.
var ErrNoRetiredVersion = errors.New("no retired version to roll back to (the last rebuild's predecessor is dropped by the next rebuild)")

// Rollback swaps the version the last rebuild replaced back in for one
// projection: it catches the retired version up with the log, as a rebuild
// catches up its new one, and swaps it in the same way, so the version it
// replaces is retired in turn (and a second rollback undoes the first).
func (s *Store) Rollback(ctx context.Context, name string, progress func(done, total int64)) error {
	if name == "" {
		return errors.New("roll back: name the projection to roll back")
	}
	ps, err := findProjection(name)
	if err != nil {
		return fmt.Errorf("roll back: %w", err)
	}
	p := ps[0]
	release, err := s.versionLock(ctx, p)
	if err != nil {
		return fmt.Errorf("roll back %s: %w", p.name, err)
	}
	defer release()
	sh := &shadow{p: p, purpose: purposeRebuild}
	err = s.write.QueryRow(ctx, "SELECT version, schema_name FROM projection_versions WHERE name = $1 AND state = 'retired' ORDER BY version DESC LIMIT 1",
		p.name).Scan(&sh.version, &sh.schema)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("roll back %s: %w", p.name, ErrNoRetiredVersion)
	}
	if err != nil {
		return fmt.Errorf("roll back %s: find the retired version: %w", p.name, err)
	}
	if err := s.ensurePartitionIndex(ctx, s.partitions); err != nil {
		return fmt.Errorf("roll back %s: %w", p.name, err)
	}
	if _, _, err := s.buildShadow(ctx, sh, progress); err != nil {
		return fmt.Errorf("roll back %s: %w", p.name, err)
	}
	_, pos, _, err := s.swapWithRetry(ctx, sh)
	if err != nil {
		return fmt.Errorf("roll back %s: %w", p.name, err)
	}
	s.logger.InfoContext(ctx, "projection rolled back", "projection", p.name, "version", sh.version, "position", pos)
	return nil
}

// swapWithRetry swaps the shadow in, retrying while the live tables are busy
// (a long report holds them); between tries the shadow catches up again, so
// the swap's own share of work stays small. It returns how long the
// successful swap transaction took: how long the live tables were locked.
func (s *Store) swapWithRetry(ctx context.Context, sh *shadow) (int, int64, time.Duration, error) {
	total := 0
	for attempt := 1; ; attempt++ {
		if err := s.catchUpLive(ctx, sh.p); err != nil {
			return total, 0, 0, err
		}
		start := time.Now()
		n, pos, err := s.swap(ctx, sh)
		took := time.Since(start)
		if !isLockTimeout(err) || attempt >= s.swapAttempts {
			if err != nil {
				return total, 0, 0, fmt.Errorf("swap in version %d (attempt %d): %w", sh.version, attempt, err)
			}
			return total + n, pos, took, nil
		}
		s.logger.InfoContext(ctx, "live projection busy; retrying the swap", "projection", sh.p.name, "attempt", attempt, "lock_timeout", s.swapLockTimeout)
		err = pgx.BeginFunc(ctx, s.write, func(tx pgx.Tx) error {
			m, _, err := s.shadowPasses(ctx, tx, sh, toHead, 1)
			total += m
			return err
		})
		if err != nil {
			return total, 0, 0, fmt.Errorf("catch up %s: %w", sh.schema, err)
		}
	}
}

// catchUpLive brings the live version's partitions near the log's head in
// short transactions before a swap. The swap brings the version it retires
// to the head (so a rollback resumes exactly), under the exclusive lock;
// when the live projector is behind or not running, that would hold the
// lock for the whole backlog. Each step locks the partitions (the live
// projector waits, reports do not) and folds at most rebuildSize events.
func (s *Store) catchUpLive(ctx context.Context, p projection) error {
	step := int64(s.rebuildSize)
	near := max(step/10, 1) // what is left for the swap, under its lock
	prev := int64(-1)
	for {
		var lo, head int64
		err := pgx.BeginFunc(ctx, s.write, func(tx pgx.Tx) error {
			if err := lockAllPartitions(ctx, tx, p); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT min(position) FROM projection_partitions WHERE projection = $1), 0),
				coalesce((SELECT max(position) FROM order_events), 0)`, p.name).Scan(&lo, &head); err != nil {
				return fmt.Errorf("read partitions and head: %w", err)
			}
			if head-lo <= near || lo <= prev {
				return nil
			}
			return s.livePartitionsTo(ctx, tx, p, min(lo+step, head))
		})
		if err != nil {
			return fmt.Errorf("catch up the live %s before the swap: %w", p.name, err)
		}
		// Near the head, or no progress (the swap does the rest).
		if head-lo <= near || lo <= prev {
			return nil
		}
		prev = lo
	}
}

func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03" // lock_not_available
}

// swap makes the shadow the live version in one transaction and returns the
// events it applied last and the new live position.
func (s *Store) swap(ctx context.Context, sh *shadow) (applied int, pos int64, err error) {
	p := sh.p
	err = pgx.BeginFunc(ctx, s.write, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('lock_timeout', $1, true)", strconv.FormatInt(s.swapLockTimeout.Milliseconds(), 10)); err != nil {
			return fmt.Errorf("set lock_timeout: %w", err)
		}
		var liveVersion int
		if err := tx.QueryRow(ctx, "SELECT version FROM projection_versions WHERE name = $1 AND state = 'live'", p.name).Scan(&liveVersion); err != nil {
			return fmt.Errorf("find live version: %w", err)
		}
		restore, err := inSchema(ctx, tx, "public")
		if err != nil {
			return err
		}
		if _, err := lockLive(ctx, tx, p); err != nil {
			return err
		}
		if err := restore(); err != nil {
			return err
		}
		live := ""
		for i, t := range p.tables() {
			if i > 0 {
				live += ", "
			}
			live += qualified("public", t)
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE "+live+" IN ACCESS EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("lock live tables: %w", err)
		}
		// The last events, under the lock, up to the head as it is now
		// (appends go on; bounding the work keeps the lock short; Append
		// makes positions visible in order, so all below the head are in).
		var head int64
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(position), 0) FROM order_events").Scan(&head); err != nil {
			return fmt.Errorf("read log head: %w", err)
		}
		applied, pos, err = s.shadowPasses(ctx, tx, sh, head, 0)
		if err != nil {
			return err
		}
		// The retired version keeps one checkpoint: its partitions are
		// brought to the same head first (usually a few events, as the
		// live projector keeps up), so a rollback resumes exactly.
		if err := s.livePartitionsTo(ctx, tx, p, head); err != nil {
			return err
		}
		livePos := head
		retired := versionSchema(p.name, liveVersion)
		stmts := []string{"CREATE SCHEMA " + pgx.Identifier{retired}.Sanitize()}
		for _, t := range p.tables() {
			stmts = append(stmts,
				"ALTER TABLE "+qualified("public", t)+" SET SCHEMA "+pgx.Identifier{retired}.Sanitize(),
				"ALTER TABLE "+qualified(sh.schema, t)+" SET SCHEMA public")
		}
		for _, t := range bookkeeping {
			stmts = append(stmts, "CREATE TABLE "+qualified(retired, t)+" (LIKE "+qualified("public", t)+" INCLUDING ALL)")
		}
		// The DDL first, on its own: a batch prepares every statement
		// before it runs any, so it could not name the tables made here.
		if _, err := tx.Exec(ctx, strings.Join(stmts, ";\n")); err != nil {
			return fmt.Errorf("move version %d in and %d out: %w", sh.version, liveVersion, err)
		}
		b := &pgx.Batch{}
		// The retired version keeps its checkpoint, held and parked rows
		// for a rollback; the live ones become the shadow's: the fresh fold
		// parked (and held) its own events.
		b.Queue("INSERT INTO "+qualified(retired, "projection_checkpoints")+" (name, position) VALUES ($1, $2)", p.name, livePos)
		for _, t := range []string{"projection_held", "projection_parked"} {
			//nolint:unqueryvet // copies between tables made LIKE each other: same columns, same order
			b.Queue("INSERT INTO "+qualified(retired, t)+" SELECT * FROM "+qualified("public", t)+" WHERE projection = $1", p.name)
			b.Queue("DELETE FROM "+qualified("public", t)+" WHERE projection = $1", p.name)
			//nolint:unqueryvet // as above
			b.Queue("INSERT INTO "+qualified("public", t)+" SELECT * FROM "+qualified(sh.schema, t)+" WHERE projection = $1", p.name)
		}
		b.Queue("DROP SCHEMA " + pgx.Identifier{sh.schema}.Sanitize() + " CASCADE")
		b.Queue(`UPDATE projection_versions SET state = 'retired', schema_name = $3, retired_at = now(), position = $4
			WHERE name = $1 AND version = $2`, p.name, liveVersion, retired, livePos)
		b.Queue(`UPDATE projection_versions SET state = 'live', schema_name = 'public', swapped_at = now(), position = $3
			WHERE name = $1 AND version = $2`, p.name, sh.version, pos)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("hand over held and parked events of version %d: %w", sh.version, err)
		}
		return s.setLiveCheckpoint(ctx, tx, p, pos)
	})
	return applied, pos, err
}

// DriftRow is one row that differs between the live version of a
// projection and a fresh fold of the log.
type DriftRow struct {
	Table string `json:"table"`
	// Side says where the row is: "live" (only in the live version: a
	// patched or stale row) or "rebuilt" (only in the fresh fold).
	Side string          `json:"side"`
	Row  json.RawMessage `json:"row"`
}

// VerifyResult is one projection's verify.
type VerifyResult struct {
	Projection string     `json:"projection"`
	Position   int64      `json:"position"`   // log position both versions were compared at
	DriftRows  int64      `json:"drift_rows"` // rows that differ, on either side
	Rows       []DriftRow `json:"rows"`       // the first maxRows of them
	Truncated  bool       `json:"truncated"`  // more differ than Rows holds
}

// Verify builds a fresh version of one projection (or of all, for "") from
// the log, as Rebuild does, and instead of swapping it in compares it with
// the live one at the same log position. It records the drift in
// projection_drift (exported as reportd_projection_drift_rows) and drops the
// fresh version, unless it resumed a rebuild's. The error wraps ErrDrift
// when any row differs; the results list the first maxRows per projection.
func (s *Store) Verify(ctx context.Context, name string, maxRows int, progress func(done, total int64)) ([]VerifyResult, error) {
	ps, err := findProjection(name)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	var out []VerifyResult
	drift := false
	for _, p := range ps {
		r, err := s.verify(ctx, p, maxRows, progress)
		if err != nil {
			return out, fmt.Errorf("verify %s: %w", p.name, err)
		}
		out = append(out, r)
		drift = drift || r.DriftRows > 0
	}
	if drift {
		return out, ErrDrift
	}
	return out, nil
}

func (s *Store) verify(ctx context.Context, p projection, maxRows int, progress func(done, total int64)) (VerifyResult, error) {
	res := VerifyResult{Projection: p.name, Rows: []DriftRow{}}
	release, err := s.versionLock(ctx, p)
	if err != nil {
		return res, err
	}
	defer release()
	// The live version's partitions must exist to be compared.
	if _, err := s.createPartitions(ctx, p); err != nil {
		return res, err
	}
	sh, err := s.openShadow(ctx, p, purposeVerify)
	if err != nil {
		return res, err
	}
	if _, _, err := s.buildShadow(ctx, sh, progress); err != nil {
		return res, err
	}
	err = pgx.BeginFunc(ctx, s.write, func(tx pgx.Tx) error {
		// Holding the live checkpoint keeps the live version still while
		// the two are compared; reports go on reading it.
		livePos, err := lockLive(ctx, tx, p)
		if err != nil {
			return err
		}
		_, shadowPos, err := s.shadowPasses(ctx, tx, sh, livePos, 0)
		if err != nil {
			return err
		}
		// Partitions behind the furthest one, or behind a shadow that is
		// ahead of a lagging live projector, are moved up, as the
		// projector would: both versions then hold every event up to pos.
		pos := max(livePos, shadowPos)
		if err := s.livePartitionsTo(ctx, tx, p, pos); err != nil {
			return err
		}
		res.Position = pos
		if err := compareVersions(ctx, tx, sh, maxRows, &res); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO projection_drift (name, checked_at, position, drift_rows) VALUES ($1, now(), $2, $3)
			ON CONFLICT (name) DO UPDATE SET checked_at = EXCLUDED.checked_at, position = EXCLUDED.position, drift_rows = EXCLUDED.drift_rows`,
			p.name, res.Position, res.DriftRows)
		if err != nil {
			return fmt.Errorf("record drift: %w", err)
		}
		if sh.purpose != purposeVerify {
			return nil // a rebuild's shadow: the rebuild goes on with it
		}
		if _, err := tx.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{sh.schema}.Sanitize()+" CASCADE"); err != nil {
			return fmt.Errorf("drop %s: %w", sh.schema, err)
		}
		_, err = tx.Exec(ctx, "UPDATE projection_versions SET state = 'dropped', position = $3 WHERE name = $1 AND version = $2", p.name, sh.version, pos)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("compare version %d with the live one: %w", sh.version, err)
	}
	s.logger.InfoContext(ctx, "projection verified", "projection", p.name, "position", res.Position, "drift_rows", res.DriftRows)
	return res, nil
}

// compareVersions adds to res every row that differs between the live
// tables and the shadow's: the projection's own tables whole, and its held
// and parked events by key (a parked event's error text and time are not
// part of the fold).
func compareVersions(ctx context.Context, tx pgx.Tx, sh *shadow, maxRows int, res *VerifyResult) error {
	type side struct {
		table, live, fresh string
		args               []any
	}
	var sides []side
	for _, t := range sh.p.tables() {
		//nolint:unqueryvet // every column is compared, whatever columns a later migration adds
		sides = append(sides, side{t, "SELECT * FROM " + qualified("public", t), "SELECT * FROM " + qualified(sh.schema, t), nil})
	}
	for _, t := range []string{"projection_held", "projection_parked"} {
		cols := "SELECT client_id, order_id, sequence, position FROM "
		sides = append(sides, side{t, cols + qualified("public", t) + " WHERE projection = $1",
			cols + qualified(sh.schema, t) + " WHERE projection = $1", []any{sh.p.name}})
	}
	for _, sd := range sides {
		rows, err := tx.Query(ctx, `WITH l AS (`+sd.live+` EXCEPT ALL `+sd.fresh+`), f AS (`+sd.fresh+` EXCEPT ALL `+sd.live+`)
			SELECT 'live', to_jsonb(l) FROM l UNION ALL SELECT 'rebuilt', to_jsonb(f) FROM f`, sd.args...)
		if err != nil {
			return fmt.Errorf("compare %s: %w", sd.table, err)
		}
		var which string
		var row json.RawMessage
		_, err = pgx.ForEachRow(rows, []any{&which, &row}, func() error {
			res.DriftRows++
			if len(res.Rows) < maxRows {
				res.Rows = append(res.Rows, DriftRow{Table: sd.table, Side: which, Row: append(json.RawMessage(nil), row...)})
			} else {
				res.Truncated = true
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("compare %s: %w", sd.table, err)
		}
	}
	return nil
}

// Drift lists the last verify of each projection, for the metrics.
func (s *Store) Drift(ctx context.Context) ([]domain.ProjectionDrift, error) {
	rows, err := s.write.Query(ctx, "SELECT name, drift_rows, extract(epoch FROM checked_at)::float8 FROM projection_drift ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("read projection drift: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[domain.ProjectionDrift])
	if err != nil {
		return nil, fmt.Errorf("read projection drift: %w", err)
	}
	return out, nil
}
