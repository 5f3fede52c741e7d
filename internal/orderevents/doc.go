// Package orderevents decodes and validates batches of order events pushed by
// the upstream order system, so that only well-formed events reach the log.
//
// It is pure: types, strict decoding (internal/strictjson, the same decoder
// the API uses for every body) and validation, no database. A batch is
// accepted whole or rejected whole. The exported bounds (MaxBatch,
// MaxAmountMinor, MaxQty, ...) are the contract the read model relies on. Decoding problems (malformed JSON, an
// unknown field at any level, a value of the wrong JSON type) are a
// *SyntaxError; values that decode but break a rule are a *ValidationError
// listing every offending field.
//
// Events carry a schema_version (schema.go). The log keeps each event in the
// version it arrived in; Decode is the one upcast step through which every
// reader reads it as its type's latest version.
package orderevents
