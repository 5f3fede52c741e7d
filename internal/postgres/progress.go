package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/reportd/reportd/internal/domain"
)

// SetProgress records how far a running report's build is. A report that
// is no longer running is left alone, so a late write after the result
// changes nothing. updated_at is not touched: it says when the status last
// changed, which the sweeper goes by.
func (s *Store) SetProgress(ctx context.Context, id string, p domain.Progress) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode progress of report %s: %w", id, err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE reports SET progress = $2 WHERE id = $1 AND status = 'running'`, id, b); err != nil {
		return classify(fmt.Errorf("record progress of report %s: %w", id, err))
	}
	return nil
}
