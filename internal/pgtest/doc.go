// Package pgtest gives each test a fresh, migrated Postgres database on the
// real server, so tests never share state and never need mocks.
package pgtest
