// Package api is reportd's HTTP API: routes, handlers, authentication and
// the one place where errors become RFC 9457 problem+json. Postgres, Redis
// and S3 reach it only through the interfaces declared here.
package api
