package durable

// Hooks for the tests of package durable_test.

// Trim runs one trim pass now, as the background pass does every second.
func (s *Stream) Trim() { s.trim(true) }

// Flush writes the memtables to sstables, so that tests can find and damage them.
func (s *Stream) Flush() error { return s.db.Flush() }

// Waiting reports how many Puts are blocked for room.
func (s *Stream) Waiting() int { return s.budget.Waiting() }

// Watched reports whether a reader of a shard waits (or is about to wait) for its next
// Put.
func (s *Stream) Watched(streamName string, shard int) bool {
	sh := s.streams[streamName][shard]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.wake != nil
}
