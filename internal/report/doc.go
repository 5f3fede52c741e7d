// Package report defines the report types, their params and rows, and renders
// them to PDF and CSV. It is a leaf: no database, queue or storage.
package report
