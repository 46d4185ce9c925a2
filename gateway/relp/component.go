package relp

import "context"

// Start binds the configured address, if Listen has not, and serves in the background
// until Shutdown (not until ctx ends), as Run does; it logs the address it listens on.
func (s *Server) Start(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	if err := s.cs.Start(ctx, s.fatal); err != nil {
		return err
	}
	s.log.Info("relp listening", "addr", s.Addr().String(), "tls", s.TLS())
	return nil
}

// Shutdown stops the server gracefully, as Run does when its context ends: it stops
// accepting, closes idle connections (serverclose hint first), lets batches in progress
// finish for at most Options.DrainTimeout, and waits for that until ctx ends; then it
// closes what is left (Close: those transactions are not answered, and clients resend
// them). Without Start it closes the listener. It is safe to call twice.
func (s *Server) Shutdown(ctx context.Context) error { return s.cs.Shutdown(ctx) }
