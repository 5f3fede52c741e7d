// Package postgres is the system of record: it connects to Postgres, applies
// the embedded migrations, and stores clients, reports, deliveries, attempts
// and idempotency keys.
package postgres
