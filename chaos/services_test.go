package chaos

import "testing"

// The private services below run on ports of their own, so restarting them
// never disturbs the shared dev services or other engineers' tests. The
// short form uses them too (TestPostgresDownWhileWebhooksRetry).

// privatePostgres is a localPostgres for one test, which it may crash and
// start again.
type privatePostgres struct{ pg *localPostgres }

func startPostgres(t *testing.T) *privatePostgres {
	t.Helper()
	pg, err := newLocalPostgres("pg", "max_connections=200")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.close)
	p := &privatePostgres{pg: pg}
	p.start(t)
	return p
}

func (p *privatePostgres) start(t *testing.T) {
	t.Helper()
	if err := p.pg.start(); err != nil {
		t.Fatal(err)
	}
}

// stop stops the cluster; mode "immediate" is a crash, "fast" a clean stop.
func (p *privatePostgres) stop(t *testing.T, mode string) {
	t.Helper()
	_ = p.pg.stop(mode) // already stopped is fine
}

func (p *privatePostgres) url() string { return p.pg.url() }

func pgBindir(t *testing.T) string {
	t.Helper()
	dir, err := newestPGBindir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
