package readmodel

import "time"

// SetDecoder swaps the event decoder, as a newer release would: a test can
// break and then fix decoding. Call it only while nothing projects.
func SetDecoder(s *Store, decode func(typ string, version int, data []byte) (any, error)) {
	s.decode = decode
}

// SetRebuildSize sets the log events per pass of a rebuild or verify.
func SetRebuildSize(s *Store, n int) { s.rebuildSize = n }

// StopLikeAKill makes RunProjector return without releasing its leases or
// its worker registration, as a killed worker would.
func StopLikeAKill(s *Store) { s.keepLeasesOnStop = true }

// SetSafetyPoll sets how often an idle projector wakes without a NOTIFY.
func SetSafetyPoll(s *Store, d time.Duration) { s.safetyPoll = d }
