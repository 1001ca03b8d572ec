package sequence

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/wire"
)

// This file saves and restores a State (engine snapshots) and fingerprints
// the automaton a State belongs to.

// Fingerprint returns a short, stable hash (32 hex digits) of the compiled
// automaton: every state's name, type and window, every transition's action,
// destination, source stage and the shape of its condition (how it combines
// stage conditions with not and and), in order; the stage names; the skip
// strategy and its stage; the pattern's window and MaxPartialMatches. The
// conditions themselves are not part of it (a where, or its absence, is one
// opaque condition), so a changed where keeps the fingerprint while a
// changed quantifier, contiguity, window or skip strategy does not. Two
// compilations of the same Pattern have the same fingerprint; a State (or
// its encoding) made by one NFA can be driven by any NFA with the same
// fingerprint. Callers store it next to encoded States and refuse to
// restore them under a different one.
func (n *NFA) Fingerprint() string { return n.fp }

// fingerprintTag versions the fingerprint's input.
const fingerprintTag = "vigil/sequence/nfa/1"

func (n *NFA) fingerprint() string {
	var e wire.Enc
	e.String(fingerprintTag)
	e.Uvarint(uint64(len(n.stages)))
	for _, s := range n.stages {
		e.String(s)
	}
	e.Uvarint(uint64(n.skip))
	e.Varint(int64(n.skipStage))
	e.Varint(n.window)
	e.Varint(int64(n.maxPartial))
	e.Varint(int64(n.start))
	e.Uvarint(uint64(len(n.states)))
	for i := range n.states {
		s := &n.states[i]
		e.String(s.name)
		e.Uvarint(uint64(s.typ))
		e.Varint(s.window)
		e.Uvarint(uint64(len(s.trans)))
		for j := range s.trans {
			t := &s.trans[j]
			e.Uvarint(uint64(t.act))
			e.Varint(int64(t.dst))
			e.Varint(int64(t.stage))
			condShape(&e, t.cond)
		}
	}
	sum := sha256.Sum256(e.Bytes())
	return hex.EncodeToString(sum[:16])
}

// condShape writes the shape of a condition: its not and and operators,
// with every leaf (a stage condition or true) as one opaque atom.
func condShape(e *wire.Enc, c *cexpr) {
	for {
		switch {
		case c == nil:
			e.Uvarint(0)
			return
		case c.op == opTrue || c.op == opLeaf:
			e.Uvarint(1)
			return
		case c.op == opNot:
			e.Uvarint(2)
			c = c.a
		default: // opAnd
			e.Uvarint(3)
			condShape(e, c.a)
			c = c.b
		}
	}
}

// StateVersion is the version of the State encoding written by EncodeState.
const StateVersion = 1

// Minimum encoded sizes, for wire.Dec.Count.
const (
	minNodeBytes = 4 // stage, seq, event ref, prev
	minCompBytes = 6 // state, node, startSeq, startTime, prevTime, matchTime
)

// EncodeState appends st to e. Events are not written: ref maps each event
// a partial match references to a number the caller stores elsewhere (it is
// called once per node, so possibly several times for one event; returning
// the same number for the same event keeps events shared after
// DecodeState).
//
// Layout, version 1 (u: wire uvarint, i: wire varint):
//
//	u version (1)
//	u seq       the key's event counter
//	u evicted   partial matches evicted so far
//	u N         nodes, then N times:
//	    u stage   leaf stage index (< len(Stages()))
//	    u seq     the event's seq within the key (1..seq)
//	    u ref     ref(event)
//	    u prev    0: none; else 1 + the index of an earlier node
//	u P         partial matches, then P comps in heap array order
//	u C         completed matches, then C comps in heap array order
//
// where a comp is
//
//	u state     automaton state index
//	u node      0: none (the start comp); else 1 + node index
//	u startSeq  seq of the first event (0: the start comp)
//	i startTime time of the first event
//	i prevTime  time of the last taken event
//	i matchTime completed matches: the match time
//
// Nodes are the distinct nodes reachable from the comps, each once, a
// node's prev before it, in the order a walk of the partial then the
// completed queue meets them. The queues are written in array order, so the
// restored heaps have the same layout and the State emits and processes in
// the same order as the original.
func (n *NFA) EncodeState(e *wire.Enc, st *State, ref func(*event.Event) uint64) {
	// The NFA's scratch, reused from key to key (one goroutine at a time).
	if n.snap.index == nil {
		n.snap.index = make(map[*node]uint64)
	}
	index := n.snap.index // 1 + position in order
	order, path := n.snap.order[:0], n.snap.path[:0]
	defer func() {
		clear(index)
		clear(order)
		clear(path)
		n.snap.order, n.snap.path = order[:0], path[:0]
	}()
	collect := func(q *pq) {
		for i := range q.a {
			path = path[:0]
			for x := q.a[i].node; x != nil && index[x] == 0; x = x.prev {
				path = append(path, x)
			}
			for j := len(path) - 1; j >= 0; j-- {
				order = append(order, path[j])
				index[path[j]] = uint64(len(order))
			}
		}
	}
	collect(&st.partial)
	collect(&st.completed)

	e.Uvarint(StateVersion)
	e.Uvarint(st.seq)
	e.Uvarint(st.evicted)
	e.Uvarint(uint64(len(order)))
	for _, x := range order {
		e.Uvarint(uint64(x.stage))
		e.Uvarint(x.seq)
		e.Uvarint(ref(x.ev))
		e.Uvarint(index[x.prev]) // 0 for nil
	}
	for _, q := range [...]*pq{&st.partial, &st.completed} {
		e.Uvarint(uint64(len(q.a)))
		for i := range q.a {
			c := &q.a[i]
			e.Uvarint(uint64(c.state))
			e.Uvarint(index[c.node])
			e.Uvarint(c.startSeq)
			e.Varint(c.startTime)
			e.Varint(c.prevTime)
			e.Varint(c.matchTime)
		}
	}
}

// DecodeState reads a State written by EncodeState (of an NFA with the same
// Fingerprint). event maps a ref back to its event; false (or a nil event)
// is an error. Everything is checked — indexes against the automaton and
// the node list, a node's prev and seq against the earlier nodes, the start
// comp, each heap's order, that every node is used and that the payload
// ends — so that a corrupt payload gives an error wrapping wire.ErrCorrupt,
// never a panic or a State the NFA cannot drive.
func (n *NFA) DecodeState(d *wire.Dec, event func(ref uint64) (*event.Event, bool)) (*State, error) {
	if v := d.Uvarint(); d.Err() == nil && v != StateVersion {
		d.Fail("sequence state: unsupported version %d", v)
	}
	st := &State{seq: d.Uvarint(), evicted: d.Uvarint()}
	count := d.Count(minNodeBytes)
	if d.Err() != nil {
		return nil, d.Err()
	}
	nodes := make([]*node, count)
	root := make([]uint64, count) // seq of the first node of each node's path
	used := make([]bool, count)
	for i := range nodes {
		stage := d.Uvarint()
		seq := d.Uvarint()
		ref := d.Uvarint()
		prev := d.Uvarint()
		if d.Err() != nil {
			return nil, d.Err()
		}
		if stage >= uint64(len(n.stages)) {
			d.Fail("sequence state: node %d: stage %d out of range (%d stages)", i, stage, len(n.stages))
			return nil, d.Err()
		}
		if seq == 0 || seq > st.seq {
			d.Fail("sequence state: node %d: seq %d outside 1..%d", i, seq, st.seq)
			return nil, d.Err()
		}
		if prev > uint64(i) {
			d.Fail("sequence state: node %d: prev %d is not an earlier node", i, prev)
			return nil, d.Err()
		}
		ev, ok := event(ref)
		if !ok || ev == nil {
			d.Fail("sequence state: node %d: unknown event ref %d", i, ref)
			return nil, d.Err()
		}
		x := &node{stage: int32(stage), seq: seq, ev: ev}
		root[i] = seq
		if prev > 0 {
			p := prev - 1
			x.prev = nodes[p]
			if x.prev.seq >= seq {
				d.Fail("sequence state: node %d: seq %d not after its prev's %d", i, seq, x.prev.seq)
				return nil, d.Err()
			}
			used[p] = true
			root[i] = root[p]
		}
		nodes[i] = x
	}

	readQueue := func(q *pq, partial bool) {
		what := "completed"
		if partial {
			what = "partial"
		}
		c := d.Count(minCompBytes)
		if d.Err() != nil || c == 0 {
			return
		}
		q.a = make([]comp, c)
		starts := 0
		for j := range q.a {
			state := d.Uvarint()
			ni := d.Uvarint()
			x := comp{startSeq: d.Uvarint(), startTime: d.Varint(), prevTime: d.Varint(), matchTime: d.Varint()}
			if d.Err() != nil {
				return
			}
			if state >= uint64(len(n.states)) {
				d.Fail("sequence state: %s match %d: state %d out of range (%d states)", what, j, state, len(n.states))
				return
			}
			x.state = int32(state)
			if ni > uint64(len(nodes)) {
				d.Fail("sequence state: %s match %d: node %d out of range (%d nodes)", what, j, ni, len(nodes))
				return
			}
			if ni == 0 {
				// The start comp: waits in the start state, has taken nothing.
				if !partial || x.startSeq != 0 || x.state != n.start || x.startTime != 0 || x.prevTime != 0 || x.matchTime != 0 {
					d.Fail("sequence state: %s match %d has no event but is not the start match", what, j)
					return
				}
				starts++
			} else {
				x.node = nodes[ni-1]
				used[ni-1] = true
				if x.startSeq != root[ni-1] {
					d.Fail("sequence state: %s match %d: start seq %d, but its first event has seq %d", what, j, x.startSeq, root[ni-1])
					return
				}
			}
			if j > 0 && cmpComp(&q.a[(j-1)/2], &x) > 0 {
				d.Fail("sequence state: %s match %d breaks the heap order", what, j)
				return
			}
			q.a[j] = x
		}
		if partial && starts != 1 {
			d.Fail("sequence state: %d start matches, want 1", starts)
		}
	}
	readQueue(&st.partial, true)
	if d.Err() == nil && len(st.partial.a) == 0 {
		d.Fail("sequence state: no start match")
	}
	readQueue(&st.completed, false)
	if d.Err() != nil {
		return nil, d.Err()
	}
	for i, u := range used {
		if !u {
			d.Fail("sequence state: node %d is not used", i)
			break
		}
	}
	if err := d.Done(); err != nil {
		return nil, err
	}
	return st, nil
}
