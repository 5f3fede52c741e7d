package readmodel_test

import "testing"

func TestCaughtUpFollowsTheLog(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	caughtUp := func() bool {
		t.Helper()
		ok, err := s.CaughtUp(ctx)
		if err != nil {
			t.Fatalf("CaughtUp: %v", err)
		}
		return ok
	}
	if !caughtUp() {
		t.Error("empty log: CaughtUp = false, want true")
	}
	if _, err := s.Append(ctx, "cli_a", seedEvents(2, 2)); err != nil {
		t.Fatalf("append: %v", err)
	}
	if caughtUp() {
		t.Error("appended, not projected: CaughtUp = true, want false")
	}
	if _, err := s.ProjectOnce(ctx); err != nil {
		t.Fatalf("project: %v", err)
	}
	if !caughtUp() {
		t.Error("projected: CaughtUp = false, want true")
	}
}
