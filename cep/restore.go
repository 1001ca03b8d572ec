package cep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/wire"
	"github.com/vigilhq/vigil/patterns/window"
)

// RestoreReport says what a Restore did.
type RestoreReport struct {
	Partitions int // partitions whose state was replaced
	Keys       int // keys restored
	Buffered   int // events restored into input buffers
	Alerts     int // undelivered alerts queued again
	// Late counts buffered events dropped because the restoring engine's
	// exchange had passed them (a partition moved into an engine that
	// had gone further); their source delivers them again.
	Late int
	// Dropped names the rules whose state the snapshot held but the engine
	// dropped: rules it no longer has, or whose matching definition
	// changed — exactly what an Update drops.
	Dropped []string
}

// ErrSnapshot wraps every error about a snapshot's content.
var ErrSnapshot = errors.New("cep: bad snapshot")

// Restore reads a snapshot written by Snapshot and replaces the state of
// the partitions it holds (the others are left as they are). Rules are
// matched by name and match hash: the state of a rule the engine no longer
// has, or whose matching definition changed, is dropped, as Update drops
// it. Keys go to the partition the engine's layout gives them now, so a
// snapshot restores into an engine with a different number of key groups.
// Inputs the snapshot names that are not open are opened with the options
// it recorded. Alerts it holds that were not delivered are queued again
// (sinks de-duplicate them). Nothing changes unless the whole snapshot
// reads correctly: a corrupt or truncated one is an error wrapping
// ErrSnapshot.
func (e *Engine) Restore(ctx context.Context, r io.Reader) (RestoreReport, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return RestoreReport{}, ErrClosed
	}
	st := &restorer{e: e, fr: wire.NewReader(r), events: map[uint64]*event.Event{},
		rules: map[uint64]int{}, inputs: map[string]*input{}, staged: map[*partition]*partition{},
		parts: map[string]partMeta{}}
	if err := st.read(ctx); err != nil {
		if errors.Is(err, wire.ErrCorrupt) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: %w", ErrSnapshot, err)
		}
		return RestoreReport{}, err
	}
	st.apply()
	return st.report, nil
}

type partMeta struct {
	wm       int64
	timerSeq uint64
}

type restorer struct {
	e      *Engine
	fr     *wire.Reader
	report RestoreReport

	frames uint64
	header bool
	full   bool
	groups int // the snapshot's number of key groups
	floor  int64
	wmX    int64
	ids    []string            // partitions the snapshot holds
	parts  map[string]partMeta // their watermarks and timer counters
	events map[uint64]*event.Event
	rules  map[uint64]int    // rule ref → index in the engine's ruleset; -1 dropped
	inputs map[string]*input // by name: as the snapshot has them
	// staged holds, for each live partition that receives state, the new
	// state: a fresh partition to replace it or, for one the snapshot
	// does not hold, keys to merge into it.
	staged   map[*partition]*partition
	replace  map[*partition]bool // input partitions whose state is replaced
	clearKG  []bool              // the key groups whose state is replaced
	buffered []stagedItem
	alerts   []pendingAlert
	skip     bool // the current frame is not read to its end
}

type stagedItem struct {
	in    *input
	where uint64
	ev    *event.Event
}

func (st *restorer) fail(format string, args ...any) error {
	return fmt.Errorf("%w: frame %d: %s", ErrSnapshot, st.frames, fmt.Sprintf(format, args...))
}

func (st *restorer) read(ctx context.Context) error {
	for {
		kind, payload, err := st.fr.Next()
		if err == io.EOF {
			return st.fail("the snapshot ends without its end frame")
		}
		if err != nil {
			return err
		}
		if st.frames%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		d := wire.NewDec(payload)
		if !st.header && kind != frameHeader {
			return st.fail("not a vigil snapshot")
		}
		switch kind {
		case frameHeader:
			err = st.readHeader(d)
		case frameRule:
			err = st.readRule(d)
		case frameInput:
			err = st.readInput(d)
		case framePartition:
			id, wm, seq := d.String(), d.Varint(), d.Uvarint()
			st.parts[id] = partMeta{wm: wm, timerSeq: seq}
		case frameEvent:
			err = st.readEvent(d)
		case frameKey:
			err = st.readKey(d)
		case frameThrottle:
			err = st.readThrottle(d)
		case frameTimer:
			err = st.readTimer(d)
		case frameBuffered:
			err = st.readBuffered(d)
		case frameAlert:
			err = st.readAlert(d)
		case frameEnd:
			if n := d.Uvarint(); d.Err() == nil && n != st.frames {
				return st.fail("the end frame counts %d frames, %d were read", n, st.frames)
			}
			if err := d.Done(); err != nil {
				return st.fail("%v", err)
			}
			if _, _, err := st.fr.Next(); err != io.EOF {
				return st.fail("data after the end frame")
			}
			return nil
		default:
			return st.fail("unknown frame kind %q", kind)
		}
		if err != nil {
			return err
		}
		if st.skip {
			st.skip = false
		} else if err := d.Done(); err != nil {
			return st.fail("%v", err)
		}
		st.frames++
	}
}

func (st *restorer) readHeader(d *wire.Dec) error {
	if st.header {
		return st.fail("a second header")
	}
	if magic := d.String(); d.Err() == nil && magic != snapshotMagic {
		return st.fail("not a vigil snapshot")
	}
	if v := d.Uvarint(); d.Err() == nil && v != SnapshotVersion {
		return fmt.Errorf("%w: format version %d; this vigil reads version %d", ErrSnapshot, v, SnapshotVersion)
	}
	d.Varint() // written at
	if g := d.Uvarint(); d.Err() == nil {
		if g < 1 || g > 1<<20 {
			return st.fail("%d key groups", g)
		}
		st.groups = int(g)
	}
	st.full = d.Bool()
	st.floor, st.wmX = d.Varint(), d.Varint()
	n := d.Count(1)
	for i := 0; i < n; i++ {
		st.ids = append(st.ids, d.String())
	}
	if d.Err() != nil {
		return st.fail("%v", d.Err())
	}
	st.header = true
	e := st.e
	st.replace = map[*partition]bool{}
	st.clearKG = make([]bool, e.nkg)
	if st.groups != e.nkg && !st.full {
		return fmt.Errorf("%w: the snapshot has %d key groups and holds only some; the engine has %d: restore a full snapshot",
			ErrSnapshot, st.groups, e.nkg)
	}
	for _, id := range st.ids {
		if strings.HasPrefix(id, "input/") {
			continue // staged by the input's frame
		}
		var kg int
		if _, err := fmt.Sscanf(id, "kg/%d", &kg); err != nil || kg < 0 || kg >= st.groups || id != keyGroupID(kg) {
			return st.fail("unknown partition %q", id)
		}
		if st.groups == e.nkg {
			st.clearKG[kg] = true
		}
	}
	if st.groups != e.nkg {
		for kg := range st.clearKG {
			st.clearKG[kg] = true
		}
	}
	return nil
}

// stage returns the staged state for a live partition.
func (st *restorer) stage(p *partition, replace bool) *partition {
	s := st.staged[p]
	if s == nil {
		s = newPartition(st.e, p.id, p.kg)
		s.in = p.in
		st.staged[p] = s
	}
	if replace {
		st.replace[p] = true
	}
	return s
}

func (st *restorer) readRule(d *wire.Dec) error {
	ref, name, match, kind, fp := d.Uvarint(), d.String(), d.String(), d.Uvarint(), d.String()
	if d.Err() != nil {
		return nil // reported by Done
	}
	e := st.e
	ix := -1
	for i, r := range e.rs.Rules {
		if r.Name != name {
			continue
		}
		if r.MatchHash == match && (kind == 1) == (r.Sequence != nil) &&
			(r.Sequence == nil || e.workers[0].nfas[i].Fingerprint() == fp) {
			ix = i
		}
		break
	}
	if ix < 0 && !slices.Contains(st.report.Dropped, name) {
		st.report.Dropped = append(st.report.Dropped, name)
	}
	st.rules[ref] = ix
	return nil
}

func (st *restorer) readInput(d *wire.Dec) error {
	name := d.String()
	ooo, idle, key := d.Varint(), d.Varint(), d.String()
	hasTime, maxTime, wm, seq := d.Bool(), d.Varint(), d.Varint(), d.Uvarint()
	if d.Err() != nil {
		return nil
	}
	e := st.e
	in := e.inputs[name]
	if in == nil {
		// Opened at apply; until then a detached input.
		opts := InputOptions{OutOfOrderness: time.Duration(ooo) * time.Millisecond,
			IdleTimeout: time.Duration(idle) * time.Millisecond, PartitionKey: key}
		in = &input{name: name, opts: opts, ooo: ooo, lastSeen: e.cfg.now()}
		e.place(in)
	}
	restored := *in
	restored.hasTime, restored.maxTime, restored.wm, restored.seq = hasTime, maxTime, wm, seq
	st.inputs[name] = &restored
	if in.part != nil && containsID(st.ids, inputPartitionID(name)) {
		st.stage(in.part, true)
	}
	return nil
}

func containsID(ids []string, id string) bool { return slices.Contains(ids, id) }

func (st *restorer) readEvent(d *wire.Dec) error {
	ref, id, t, seq := d.Uvarint(), d.String(), d.Varint(), d.Uvarint()
	fields, _ := d.Tree().(map[string]any)
	if d.Err() != nil {
		return nil
	}
	if ref != uint64(len(st.events)+1) {
		return st.fail("event %d out of order", ref)
	}
	if t > maxEventTime || t < -maxEventTime {
		return st.fail("event %s: time %d out of range", id, t)
	}
	if fields == nil {
		return st.fail("event %s: its fields are not an object", id)
	}
	st.events[ref] = &event.Event{ID: id, Time: t, Seq: seq, Fields: fields}
	return nil
}

func (st *restorer) event(ref uint64) (*event.Event, bool) {
	ev, ok := st.events[ref]
	return ev, ok
}

// target returns the staged partition where rule ix's state for key,
// saved from partition src, goes now; nil when the rule is dropped or the
// source partition unknown.
func (st *restorer) target(ix int, src, key string) (*partition, error) {
	if ix < 0 {
		return nil, nil
	}
	if !containsID(st.ids, src) {
		return nil, st.fail("state of partition %q, which the snapshot does not list", src)
	}
	if name, ok := strings.CutPrefix(src, "input/"); ok {
		in := st.inputs[name]
		if in == nil {
			return nil, st.fail("state of input %q before its input frame", name)
		}
		for _, c := range in.corules {
			if c == ix {
				live := st.e.inputs[name]
				if live == nil {
					live = in
				}
				if live.part == nil {
					return nil, st.fail("input %q has no partition", name)
				}
				return st.stage(live.part, false), nil
			}
		}
	}
	p := st.e.shards[keyGroup(key, st.e.nkg)%len(st.e.shards)]
	return st.stage(p, false), nil
}

func (st *restorer) readKey(d *wire.Dec) error {
	ref, src, key := d.Uvarint(), d.String(), d.String()
	ix, known := st.rules[ref]
	if d.Err() != nil {
		return nil
	}
	if !known {
		return st.fail("key of unknown rule %d", ref)
	}
	p, err := st.target(ix, src, key)
	if err != nil {
		return err
	}
	if p == nil {
		st.skip = true // a dropped rule's state: its fields are not read
		return nil
	}
	e := st.e
	r := e.rs.Rules[ix]
	rs := p.state(ix)
	if r.Sequence != nil {
		scheduled, last, ttlAt := d.Varint(), d.Varint(), d.Varint()
		blob := d.Blob()
		if d.Err() != nil {
			return nil
		}
		s, err := e.workers[0].nfas[ix].DecodeState(wire.NewDec(blob), st.event)
		if err != nil {
			return st.fail("rule %q key %q: %v", r.Name, key, err)
		}
		k := &sequenceKey{st: s, scheduled: scheduled, lastEvent: last, ttlAt: ttlAt, partial: s.PartialMatches()}
		if old := rs.seq[key]; old != nil {
			rs.counters.Partial -= old.partial
		}
		rs.seq[key] = k
		rs.counters.Partial += k.partial
	} else {
		k := &thresholdKey{lastTrue: d.Bool()}
		lastRef := d.Uvarint()
		k.end, k.scheduled, k.ttlAt, k.expiry = d.Varint(), d.Varint(), d.Varint(), d.Varint()
		hasWin := d.Bool()
		if d.Err() != nil {
			return nil
		}
		if lastRef != 0 {
			ev, ok := st.events[lastRef]
			if !ok {
				return st.fail("rule %q key %q: unknown event %d", r.Name, key, lastRef)
			}
			k.last = ev
		}
		if hasWin {
			w, err := window.Decode(r.Threshold.Aggregates, d)
			if err != nil {
				return st.fail("rule %q key %q: %v", r.Name, key, err)
			}
			k.win = w
		}
		if (k.win != nil) != (k.last != nil) && !r.Threshold.Tumbling {
			return st.fail("rule %q key %q: window and last event disagree", r.Name, key)
		}
		rs.thr[key] = k
	}
	st.report.Keys++
	return nil
}

func (st *restorer) readThrottle(d *wire.Dec) error {
	ref, src, key, t := d.Uvarint(), d.String(), d.String(), d.Varint()
	if d.Err() != nil {
		return nil
	}
	ix, known := st.rules[ref]
	if !known {
		return st.fail("throttle clock of unknown rule %d", ref)
	}
	p, err := st.target(ix, src, key)
	if err != nil || p == nil {
		return err
	}
	p.state(ix).throttle[key] = t
	return nil
}

func (st *restorer) readTimer(d *wire.Dec) error {
	ref, src, key, at, seq, kind := d.Uvarint(), d.String(), d.String(), d.Varint(), d.Uvarint(), d.Uvarint()
	if d.Err() != nil {
		return nil
	}
	if kind > uint64(timerTTL) {
		return st.fail("unknown timer kind %d", kind)
	}
	ix, known := st.rules[ref]
	if !known {
		return st.fail("timer of unknown rule %d", ref)
	}
	p, err := st.target(ix, src, key)
	if err != nil || p == nil {
		return err
	}
	p.timers = append(p.timers, timer{At: at, seq: seq, rs: p.state(ix), key: key, kind: timerKind(kind)})
	return nil
}

func (st *restorer) readBuffered(d *wire.Dec) error {
	name, where, ref := d.String(), d.Uvarint(), d.Uvarint()
	if d.Err() != nil {
		return nil
	}
	in := st.inputs[name]
	ev, ok := st.events[ref]
	if in == nil || !ok || where > 1 {
		return st.fail("buffered event %d of input %q", ref, name)
	}
	st.buffered = append(st.buffered, stagedItem{in: in, where: where, ev: ev})
	return nil
}

func (st *restorer) readAlert(d *wire.Dec) error {
	id, data := d.String(), d.Blob()
	if d.Err() != nil {
		return nil
	}
	var a Alert
	if err := json.Unmarshal(data, &a); err != nil {
		return st.fail("alert: %v", err)
	}
	st.alerts = append(st.alerts, pendingAlert{Alert: a, part: id})
	return nil
}

// apply swaps the staged state in. It cannot fail.
func (st *restorer) apply() {
	e := st.e
	if st.full {
		// The engine's time is the snapshot's, also when the engine had
		// gone further (a rollback): the events after the snapshot are
		// replayed, and must not be late.
		e.floor, e.wmX, e.xPassed = st.floor, st.wmX, st.wmX
	}
	// Inputs first: their partitions receive staged state below.
	for name, saved := range st.inputs {
		live := e.inputs[name]
		if live == nil {
			live = e.addInput(name, saved.opts)
			live.restored = true
			if saved.part != nil {
				if s := st.staged[saved.part]; s != nil {
					delete(st.staged, saved.part)
					st.staged[live.part] = s
					if st.replace[saved.part] {
						st.replace[live.part] = true
					}
					s.in = live
				}
			}
		} else {
			e.buffered -= live.buf.len() + live.xq.len()
			live.buf, live.xq = itemQueue{}, itemFIFO{}
		}
		live.hasTime, live.maxTime, live.wm, live.seq = saved.hasTime, saved.maxTime, saved.wm, saved.seq
		for _, b := range st.buffered {
			if b.in != saved {
				continue
			}
			it := item{ev: b.ev, in: live}
			if b.where == 1 && b.ev.Time < e.xPassed {
				st.report.Late++
				e.late++
				continue
			}
			if b.where == 0 {
				live.buf.push(it)
			} else {
				live.xq.push(it)
			}
			e.buffered++
			st.report.Buffered++
		}
	}
	// The key groups the snapshot holds lose their present state first.
	allKG := !slices.Contains(st.clearKG, false)
	for _, sh := range e.shards {
		if allKG {
			for _, rs := range sh.rule {
				if rs != nil {
					rs.dead = true
				}
			}
			clear(sh.rule)
			sh.slab = nil // dead states must not be reused
			sh.timers, sh.out = nil, nil
			sh.resetNext()
			continue
		}
		sh.dropKeyGroups(st.clearKG)
	}
	for kg, in := range st.clearKG {
		if in {
			st.report.Partitions++
			sh := e.shards[kg%len(e.shards)]
			if meta, ok := st.parts[keyGroupID(kg)]; ok {
				sh.wm = max(sh.wm, meta.wm)
				sh.timerSeq = max(sh.timerSeq, meta.timerSeq)
			}
		}
	}
	if allKG {
		e.layOut(len(e.rs.Rules))
	}
	for live, s := range st.staged {
		meta, ok := st.parts[live.id]
		if st.replace[live] {
			for _, rs := range live.rule {
				if rs != nil {
					rs.dead = true
				}
			}
			live.rule, live.timers, live.out = s.rule, nil, nil
			live.nextAt = math.MaxInt64
			if ok {
				live.wm, live.timerSeq = meta.wm, meta.timerSeq
			}
			st.report.Partitions++
		} else {
			for ix, rs := range s.rule {
				if rs == nil {
					continue
				}
				dst := live.state(ix)
				for k, v := range rs.thr {
					dst.thr[k] = v
				}
				for k, v := range rs.seq {
					if old := dst.seq[k]; old != nil {
						dst.counters.Partial -= old.partial
					}
					dst.seq[k] = v
					dst.counters.Partial += v.partial
				}
				for k, v := range rs.throttle {
					dst.throttle[k] = v
				}
				rs.counters.Partial = 0
			}
		}
		for _, t := range s.timers {
			t.rs = live.state(t.rs.ix)
			live.timerSeq = max(live.timerSeq, t.seq)
			live.timers = append(live.timers, t)
		}
		live.purgeTimers() // re-heaps
	}
	e.wake = e.wake[:0]
	for _, p := range e.shards {
		p.wakeAt = math.MaxInt64
		if nt := p.nextTimer(); nt != math.MaxInt64 {
			p.wakeAt = nt
			e.wake.push(wakeEntry{at: nt, kg: p.kg})
		}
	}
	e.out.enqueue(st.alerts, nil)
	st.report.Alerts = len(st.alerts)
}
