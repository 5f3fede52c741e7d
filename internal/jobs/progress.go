package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/progress"
)

// ProgressStore records how far a running build is, for GET /v1/reports/{id}.
type ProgressStore interface {
	SetProgress(ctx context.Context, id string, p domain.Progress) error
}

// progressWriteTimeout bounds one progress write: a stuck write only
// delays the next value, never the build (progress.Async).
const progressWriteTimeout = 5 * time.Second

// buildProgress is one build attempt's progress: a throttled tracker and
// the writer it publishes through. A nil *buildProgress (no ProgressStore)
// does nothing.
type buildProgress struct {
	tracker *progress.Tracker
	writer  *progress.Async
	hook    func(rowsDone int)
}

func (g *Generator) startProgress(ctx context.Context, id string, log *slog.Logger) *buildProgress {
	if g.Progress == nil {
		return nil
	}
	w := progress.NewAsync(ctx, func(ctx context.Context, p domain.Progress) error {
		ctx, cancel := context.WithTimeout(ctx, progressWriteTimeout)
		defer cancel()
		return g.Progress.SetProgress(ctx, id, p)
	}, func(err error) {
		log.DebugContext(ctx, "record report progress", "err", err)
	})
	b := &buildProgress{tracker: progress.New(g.Now, g.ProgressInterval, w.Publish), writer: w}
	if g.RowHook != nil {
		b.hook = func(n int) { g.RowHook(id, n) }
	}
	return b
}

func (b *buildProgress) phase(p string) {
	if b != nil {
		b.tracker.Phase(p)
	}
}

// start begins the rows and returns the per-row callback for the renderer.
func (b *buildProgress) start(total int) func(int) {
	if b == nil {
		return nil
	}
	b.tracker.Start(total)
	return func(n int) {
		b.tracker.Row(n)
		if b.hook != nil {
			b.hook(n)
		}
	}
}

// close writes the last value and stops the writer.
func (b *buildProgress) close() {
	if b != nil {
		b.writer.Close()
	}
}
