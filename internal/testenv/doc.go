// Package testenv starts reportd on the real local services for end-to-end
// tests: a fresh Postgres database, a Redis database of its own, a fresh S3
// bucket, and the real API and worker wiring from internal/app.
package testenv
