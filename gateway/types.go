package gateway

import (
	"sync"
	"sync/atomic"
)

// typeSet is the set of log types a gateway process has accepted, bounded by
// routing.max_types. Reads, nearly all calls once traffic settles, take no lock.
type typeSet struct {
	max   int
	known sync.Map // string -> struct{}
	mu    sync.Mutex
	n     atomic.Int64 // len(known)
}

// newTypeSet returns a set of at most max types that starts with the given ones.
func newTypeSet(max int, initial ...string) *typeSet {
	s := &typeSet{max: max}
	for _, t := range initial {
		if t != "" {
			if _, dup := s.known.LoadOrStore(t, struct{}{}); !dup {
				s.n.Add(1)
			}
		}
	}
	return s
}

// admit reports whether typ is known or could be added within the bound, adding it.
func (s *typeSet) admit(typ string) bool {
	if _, ok := s.known.Load(typ); ok {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.known.Load(typ); ok {
		return true
	}
	if int(s.n.Load()) >= s.max {
		return false
	}
	s.known.Store(typ, struct{}{})
	s.n.Add(1)
	return true
}

// len returns how many types are known.
func (s *typeSet) len() int64 { return s.n.Load() }
