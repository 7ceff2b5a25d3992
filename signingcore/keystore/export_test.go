//go:build cgo

package keystore

// DropSessionsForTest closes every session on the store's token behind the
// pool's back, as a token reset would, so tests can check recovery.
func DropSessionsForTest(s *PKCS11Store) error {
	s.slotMu.Lock()
	slot := s.slot
	s.slotMu.Unlock()
	return s.mod.ctx.CloseAllSessions(slot)
}

// SessionsOpenedForTest returns how many sessions the store has opened.
func SessionsOpenedForTest(s *PKCS11Store) int64 { return s.hits.Load() }
