package window

// noSlot marks an event whose distinct(x) argument is missing.
const noSlot = ^uint32(0)

// distinctShrinkMin is the number of slots under which a distinctSet never
// compacts.
const distinctShrinkMin = 256

// distinctSet counts the distinct keys of the events in a window.
//
// Each distinct key present has a slot holding the key and the number of
// events in the window with it; index maps keys to slots. The window keeps
// each event's slot number rather than its key, so evicting an event only
// decrements a counter: the map is touched (to delete) only when a key's
// last event leaves. Adding costs one map lookup (two for a new key).
// Freed slots are reused; when at most an eighth of the slots is live the
// slots and the map are compacted, so memory follows the window (Go maps
// do not shrink by themselves).
type distinctSet struct {
	slotOf ring[uint32] // each event's slot, or noSlot; oldest first
	index  map[dkey]uint32
	slots  []dslot
	free   []uint32 // unused slot numbers
}

type dslot struct {
	key dkey
	n   int // events in the window with this key; 0: free
}

func (d *distinctSet) value(int) any { return len(d.index) }

func (d *distinctSet) add(_ uint64, a any) {
	k := keyOf(a)
	if k.kind == keyMissing {
		d.slotOf.pushBack(noSlot)
		return
	}
	if d.index == nil {
		d.index = make(map[dkey]uint32)
	}
	i, ok := d.index[k]
	if !ok {
		if n := len(d.free); n > 0 {
			i = d.free[n-1]
			d.free = d.free[:n-1]
		} else {
			i = uint32(len(d.slots))
			d.slots = append(d.slots, dslot{})
		}
		d.slots[i].key = k
		d.index[k] = i
	}
	d.slots[i].n++
	d.slotOf.pushBack(i)
}

func (d *distinctSet) evict(uint64) {
	i := *d.slotOf.front()
	d.slotOf.popFront()
	if i == noSlot {
		return
	}
	s := &d.slots[i]
	if s.n--; s.n > 0 {
		return
	}
	delete(d.index, s.key)
	*s = dslot{} // drop the key's string
	d.free = append(d.free, i)
	if len(d.slots) > distinctShrinkMin && len(d.index) <= len(d.slots)/8 {
		d.compact()
	}
}

// compact renumbers the live slots densely, rebuilds the map at its
// current size and rewrites the events' slot numbers: O(events in the
// window + slots). It runs only when more than 7/8 of over 256 slots are
// free, so only after hundreds of keys have left the window since the
// previous compaction (which leaves no free slot): rare, and in practice
// O(1) amortized per event.
func (d *distinctSet) compact() {
	renum := make([]uint32, len(d.slots))
	slots := make([]dslot, 0, 2*len(d.index))
	for i, s := range d.slots {
		if s.n > 0 {
			renum[i] = uint32(len(slots))
			slots = append(slots, s)
		}
	}
	index := make(map[dkey]uint32, len(slots))
	for i, s := range slots {
		index[s.key] = uint32(i)
	}
	for j := range d.slotOf.len() {
		if p := d.slotOf.at(j); *p != noSlot {
			*p = renum[*p]
		}
	}
	d.slots, d.index, d.free = slots, index, nil
}

// reset empties the set, keeping small buffers for reuse.
func (d *distinctSet) reset() {
	d.slotOf.reset()
	if len(d.slots) > distinctShrinkMin {
		d.slots, d.index, d.free = nil, nil, nil
		return
	}
	clear(d.index)
	clear(d.slots)
	d.slots, d.free = d.slots[:0], d.free[:0]
}
