// Package e2e runs reportd end to end on the real local services: Postgres,
// Redis and the S3 gateway, with the production wiring from internal/app.
package e2e
