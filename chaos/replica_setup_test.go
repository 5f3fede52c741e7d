package chaos

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// pgReplicaSet is scripts/ha-postgres.sh's primary and streaming replica
// on free loopback ports.
type pgReplicaSet struct {
	env                    []string
	primaryURL, replicaURL string
}

func startPGReplicaSet(t *testing.T) *pgReplicaSet {
	t.Helper()
	// Not t.TempDir: the script hands the directory to user postgres, who
	// cannot enter t.TempDir's root-owned 0700 parent.
	dir, err := os.MkdirTemp("", "reportd-ha-pg-") //nolint:usetesting // see above
	if err != nil {
		t.Fatal(err)
	}
	set := &pgReplicaSet{env: []string{
		"HA_DIR=" + dir, "HA_PG_PRIMARY_PORT=" + freePort(t), "HA_PG_REPLICA_PORT=" + freePort(t), "HA_PG_DATABASE=reportd",
	}}
	t.Cleanup(func() {
		if out, err := runHAScript("postgres", set.env, "down"); err != nil {
			t.Errorf("scripts/ha-postgres.sh down: %v %s", err, out)
		}
		_ = os.RemoveAll(dir)
	})
	// up refuses an existing data dir; MkdirTemp made only the parent.
	sc := bufio.NewScanner(strings.NewReader(haScript(t, "postgres", set.env, "up")))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "DATABASE_URL="); ok {
			set.primaryURL = v
		}
		if v, ok := strings.CutPrefix(sc.Text(), "READ_DATABASE_URL="); ok {
			set.replicaURL = v
		}
	}
	if set.primaryURL == "" || set.replicaURL == "" {
		t.Fatal("scripts/ha-postgres.sh up printed no DATABASE_URL or READ_DATABASE_URL")
	}
	return set
}

func (s *pgReplicaSet) pauseReplay(t *testing.T) {
	t.Helper()
	haScript(t, "postgres", s.env, "pause-replay")
}

func (s *pgReplicaSet) resumeReplay(t *testing.T) {
	t.Helper()
	haScript(t, "postgres", s.env, "resume-replay")
}

// waitCaughtUp waits until the replica has replayed all the primary's WAL.
func (s *pgReplicaSet) waitCaughtUp(t *testing.T) {
	t.Helper()
	haScript(t, "postgres", s.env, "wait-caught-up")
}

func (s *pgReplicaSet) status(t *testing.T) string {
	t.Helper()
	return haScript(t, "postgres", s.env, "status")
}
