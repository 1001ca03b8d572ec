package sinks

import (
	"container/list"
	"sync"
)

// DefaultDedupeSize is how many recent alert ids a sink remembers when its
// config leaves the size at zero. At ~150 bytes an id (32 hex characters,
// list element and map entry) 100k ids cost about 15 MB.
const DefaultDedupeSize = 100_000

// idSet is a bounded set of recently written alert ids. When full, adding
// an id evicts the least recently used one. It is not safe for concurrent
// use; callers hold their own lock.
type idSet struct {
	max int
	ll  *list.List               // front = most recently used; values are strings
	m   map[string]*list.Element // id → its element in ll
}

// newIDSet returns a set that holds at most max ids (DefaultDedupeSize if
// max ≤ 0).
func newIDSet(max int) *idSet {
	if max <= 0 {
		max = DefaultDedupeSize
	}
	return &idSet{max: max, ll: list.New(), m: make(map[string]*list.Element)}
}

// Contains reports whether id is in the set, marking it recently used.
func (s *idSet) Contains(id string) bool {
	e, ok := s.m[id]
	if ok {
		s.ll.MoveToFront(e)
	}
	return ok
}

// Add puts id in the set as its most recently used member, evicting the
// least recently used id if the set is full.
func (s *idSet) Add(id string) {
	if e, ok := s.m[id]; ok {
		s.ll.MoveToFront(e)
		return
	}
	s.m[id] = s.ll.PushFront(id)
	if s.ll.Len() > s.max {
		last := s.ll.Back()
		s.ll.Remove(last)
		delete(s.m, last.Value.(string))
	}
}

// Len returns the number of ids in the set.
func (s *idSet) Len() int { return s.ll.Len() }

// dedupe makes concurrent writes of one alert id write it once: it holds
// the ids written recently (an idSet) and the ids being written right now.
// An empty id is never de-duplicated.
type dedupe struct {
	mu       sync.Mutex
	written  *idSet
	inflight map[string]chan struct{} // closed when that write ends
}

func newDedupe(max int) *dedupe {
	return &dedupe{written: newIDSet(max), inflight: make(map[string]chan struct{})}
}

// claim outcomes.
const (
	claimed = iota // the caller must write the id, then call end
	written        // the id was written already: skip it
	busy           // another caller is writing it: wait on the channel, then try again
)

// tryClaim never blocks. On busy it returns a channel closed when the
// other write ends (successfully or not).
func (d *dedupe) tryClaim(id string) (int, <-chan struct{}) {
	if id == "" {
		return claimed, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.written.Contains(id) {
		return written, nil
	}
	if ch, ok := d.inflight[id]; ok {
		return busy, ch
	}
	d.inflight[id] = make(chan struct{})
	return claimed, nil
}

// end releases a claim; ok records the id as written.
func (d *dedupe) end(id string, ok bool) {
	if id == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if ok {
		d.written.Add(id)
	}
	if ch, found := d.inflight[id]; found {
		close(ch)
		delete(d.inflight, id)
	}
}
