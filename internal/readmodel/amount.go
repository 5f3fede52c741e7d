package readmodel

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/reportd/reportd/internal/report"
)

// amountScanner scans a numeric sum of merchant_daily_sales into the int64
// of a report row. A sum that does not fit fails the report for good, with
// an error wrapping report.ErrAmountOutOfRange; it never wraps around.
type amountScanner struct{ dst *int64 }

// amountInto is the scan target of a numeric amount column.
func amountInto(dst *int64) *amountScanner { return &amountScanner{dst} }

// ScanNumeric implements pgtype.NumericScanner.
func (a *amountScanner) ScanNumeric(v pgtype.Numeric) error {
	if !v.Valid || v.NaN || v.InfinityModifier != pgtype.Finite {
		return errors.New("amount is not a finite number")
	}
	i, err := v.Int64Value()
	if err != nil {
		return fmt.Errorf("sum of amounts does not fit int64: %w", report.ErrAmountOutOfRange)
	}
	*a.dst = i.Int64
	return nil
}
