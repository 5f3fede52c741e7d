// Package domain holds reportd's domain types: the report resource and its
// lifecycle, webhook deliveries, clients, and the types the stores and the
// API share (principals, idempotency keys, list filters, work references),
// so that neither has to import the other.
package domain
