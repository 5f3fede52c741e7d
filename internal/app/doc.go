// Package app is reportd's composition root: it turns a config into
// connected Postgres pools, Redis, S3 and the HTTP and task servers, and
// runs them until their context ends. The three commands and the end-to-end
// tests share it, so tests exercise exactly the wiring that production runs.
package app
