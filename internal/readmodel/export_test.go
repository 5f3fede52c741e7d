package readmodel

// SetDecoder swaps the event decoder, as a newer release would: a test can
// break and then fix decoding. Call it only while nothing projects.
func SetDecoder(s *Store, decode func(typ string, version int, data []byte) (any, error)) {
	s.decode = decode
}

// SetRebuildSize sets the log events per pass of a rebuild or verify.
func SetRebuildSize(s *Store, n int) { s.rebuildSize = n }
