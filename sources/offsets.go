package sources

import "sort"

// offsetTracker follows the offsets of one partition from fetch to done and
// tells which offset may be committed.
//
// Kafka keeps one committed offset per partition and a commit covers every
// offset below it, but records finish in any order: the engine processes
// them in event-time order, not offset order. So the tracker commits only
// the highest offset such that every offset fetched up to it is done — the
// frontier below the lowest unfinished offset. Done records above a gap wait;
// after a crash they are delivered again (at-least-once).
//
// Offsets are fetched in increasing order but need not be contiguous:
// compaction and transaction markers leave gaps, and offsets never fetched
// do not hold the frontier back. The tracker keeps only the fetched offsets
// above the frontier, so its memory is bounded by the records in flight.
//
// The zero value is not ready; use newOffsetTracker. It is not safe for
// concurrent use.
type offsetTracker struct {
	// window holds the fetched offsets above the frontier, in increasing
	// order, from window[head] on; done marks the finished ones.
	window []trackedOffset
	head   int
	// frontier is the highest offset with every fetched offset up to it
	// done; -1 while there is none.
	frontier int64
	// last is the highest offset fetched; -1 before the first.
	last int64
	// unfinished counts the fetched offsets not yet done.
	unfinished int
}

type trackedOffset struct {
	offset int64
	done   bool
}

func newOffsetTracker() *offsetTracker {
	return &offsetTracker{frontier: -1, last: -1}
}

// fetched records that offset was handed out. It reports false, and records
// nothing, when offset is not above every offset fetched before: a
// re-delivery of a record the tracker already knows.
func (t *offsetTracker) fetched(offset int64) bool {
	if offset <= t.last || offset < 0 {
		return false
	}
	t.last = offset
	t.window = append(t.window, trackedOffset{offset: offset})
	t.unfinished++
	return true
}

// done records that the record at offset is finished and reports whether
// that was news. Offsets never fetched, and offsets already done, are
// ignored.
func (t *offsetTracker) done(offset int64) bool {
	if offset <= t.frontier || offset > t.last {
		return false
	}
	w := t.window[t.head:]
	i := sort.Search(len(w), func(i int) bool { return w[i].offset >= offset })
	if i == len(w) || w[i].offset != offset || w[i].done {
		return false
	}
	w[i].done = true
	t.unfinished--
	// Move the frontier over the done prefix.
	for t.head < len(t.window) && t.window[t.head].done {
		t.frontier = t.window[t.head].offset
		t.head++
	}
	t.compact()
	return true
}

// doneThrough records that every fetched offset up to offset is finished
// (a checkpoint covers them), and reports how many were news.
func (t *offsetTracker) doneThrough(offset int64) int {
	n := 0
	for t.head < len(t.window) && t.window[t.head].offset <= offset {
		if !t.window[t.head].done {
			t.window[t.head].done = true
			t.unfinished--
			n++
		}
		t.frontier = t.window[t.head].offset
		t.head++
	}
	// Done entries above a gap that is now closed move the frontier too.
	for t.head < len(t.window) && t.window[t.head].done {
		t.frontier = t.window[t.head].offset
		t.head++
	}
	t.compact()
	return n
}

// compact drops the entries below the frontier once they are the larger
// part of the slice, so the window does not grow with the partition's
// history.
func (t *offsetTracker) compact() {
	switch {
	case t.head == len(t.window):
		t.window, t.head = t.window[:0], 0
	case t.head > 64 && t.head > len(t.window)/2:
		n := copy(t.window, t.window[t.head:])
		t.window, t.head = t.window[:n], 0
	}
}

// committable returns the highest offset that may be committed: every
// fetched offset up to it is done. ok is false while there is none. Kafka's
// committed offset is the next one to read, committable+1.
func (t *offsetTracker) committable() (offset int64, ok bool) {
	return t.frontier, t.frontier >= 0
}

// pending returns how many fetched offsets are not done yet.
func (t *offsetTracker) pending() int { return t.unfinished }

// lowestUnfinished returns the lowest fetched offset that is not done, or
// ok=false when every fetched offset is done.
func (t *offsetTracker) lowestUnfinished() (offset int64, ok bool) {
	if t.head == len(t.window) {
		return 0, false
	}
	return t.window[t.head].offset, true
}
