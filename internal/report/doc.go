// Package report defines the report types, their params and rows, and renders
// them to PDF (with charts and summaries), CSV and XLSX. It is a leaf: no
// database, queue or storage.
package report
