package progress

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/domain"
)

// TestAsyncKeepsTheNewest: while a write is in flight, newer values replace
// each other, and Close writes the last one; Publish never waits.
func TestAsyncKeepsTheNewest(t *testing.T) {
	inWrite, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var written []int64
	var errs []error
	a := NewAsync(context.Background(), func(_ context.Context, p domain.Progress) error {
		mu.Lock()
		written = append(written, p.RowsDone)
		mu.Unlock()
		if p.RowsDone == 1 {
			close(inWrite)
			<-release
			return errors.New("postgres is away")
		}
		return nil
	}, func(err error) { errs = append(errs, err) })

	a.Publish(domain.Progress{RowsDone: 1})
	<-inWrite // the writer holds 1
	for i := int64(2); i <= 100; i++ {
		a.Publish(domain.Progress{RowsDone: i}) // returns at once
	}
	close(release)
	a.Close()

	if diff := cmp.Diff([]int64{1, 100}, written); diff != "" {
		t.Errorf("written (-want +got):\n%s", diff)
	}
	if len(errs) != 1 {
		t.Errorf("errors %v, want the one failed write", errs)
	}
}
