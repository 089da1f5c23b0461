package webhook

// HoldVerificationSlots takes every verification slot, as requests being verified would, and
// returns their release: tests make the server saturated with it.
func (s *Server) HoldVerificationSlots() (release func()) {
	g := s.gate()
	for range cap(g.slots) {
		g.slots <- struct{}{}
	}
	return func() {
		for range cap(g.slots) {
			<-g.slots
		}
	}
}
