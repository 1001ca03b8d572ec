package cep

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/wire"
)

// SnapshotVersion is the version of the snapshot format this engine
// writes; it reads this version only. docs/snapshot-format.md describes
// the format.
const SnapshotVersion = 1

const snapshotMagic = "vigil-snapshot"

// Frame kinds of a snapshot, in the order they appear.
const (
	frameHeader    byte = 'H' // format, layout, the partitions included, watermarks
	frameRule      byte = 'R' // a rule's identity: name, match hash, kind, automaton
	frameInput     byte = 'I' // an input's time and arrival counter
	framePartition byte = 'P' // a partition's watermark and timer counter
	frameEvent     byte = 'E' // an event, before the first frame that refers to it
	frameKey       byte = 'K' // one rule's state for one key
	frameThrottle  byte = 'T' // a throttle clock
	frameTimer     byte = 'M' // a timer
	frameBuffered  byte = 'B' // an event waiting for a watermark
	frameAlert     byte = 'A' // an alert raised and not yet delivered
	frameEnd       byte = 'Z' // the number of frames before it
)

// Partitions returns the ids of the engine's partitions: the key groups
// ("kg/0" …) and the partitions of inputs with co-partitioned rules
// ("input/<name>").
func (e *Engine) Partitions() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]string, 0, e.nkg)
	for kg := 0; kg < e.nkg; kg++ {
		ids = append(ids, keyGroupID(kg))
	}
	for _, in := range e.inputList {
		if in.part != nil {
			ids = append(ids, in.part.id)
		}
	}
	return ids
}

// Snapshot writes the complete state of the named partitions (every
// partition when none is named) to w: every rule's per-key state (partial
// matches with the events they hold, windows, emit: first results,
// throttle clocks), timers, watermarks, the events of their inputs that
// wait for a watermark, and their alerts not yet delivered, with each
// rule's identity (name and match hash). It runs between two events;
// memory beyond the state itself is bounded by one key's state. The
// format is versioned and checksummed (docs/snapshot-format.md). An input
// partition is named "input/<input name>" (see Partitions); an input
// that holds no rule state may be named so too, for its time and the
// events it buffers. Acks of
// events still buffered are not part of it: a source replays those from
// its own position.
func (e *Engine) Snapshot(ctx context.Context, w io.Writer, partitions ...string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := &snapshotWriter{e: e, fw: wire.NewWriter(w), events: map[*event.Event]uint64{}, rules: map[int]uint64{},
		kgs: make([]bool, e.nkg)}
	var parts []*partition // input partitions
	var bare []*input      // inputs named that hold no rule state: time and buffer only
	if len(partitions) == 0 {
		for i := range s.kgs {
			s.kgs[i] = true
		}
		for _, in := range e.inputList {
			if in.part != nil {
				parts = append(parts, in.part)
			}
		}
	} else {
		byID := map[string]*partition{}
		for _, in := range e.inputList {
			if in.part != nil {
				byID[in.part.id] = in.part
			}
		}
		for _, id := range partitions {
			var kg int
			if p, ok := byID[id]; ok {
				if !slices.Contains(parts, p) {
					parts = append(parts, p)
				}
			} else if _, err := fmt.Sscanf(id, "kg/%d", &kg); err == nil && kg >= 0 && kg < e.nkg && id == keyGroupID(kg) {
				s.kgs[kg] = true
			} else if in := e.inputs[strings.TrimPrefix(id, "input/")]; strings.HasPrefix(id, "input/") && in != nil && in.part == nil {
				if !slices.Contains(bare, in) {
					bare = append(bare, in)
				}
			} else {
				return fmt.Errorf("cep: snapshot: no partition %q", id)
			}
		}
	}
	if err := s.write(ctx, parts, bare, len(partitions) == 0); err != nil {
		return fmt.Errorf("cep: snapshot: %w", err)
	}
	return nil
}

type snapshotWriter struct {
	e      *Engine
	fw     *wire.Writer
	enc    wire.Enc // the frame being built
	evEnc  wire.Enc // an event frame, built while a key's frame is
	stEnc  wire.Enc // a sequence state, built before its key's frame
	events map[*event.Event]uint64
	rules  map[int]uint64 // rule index → ref
	kgs    []bool         // the key groups included
	frames uint64
	err    error
}

// kgOf returns the id of the key group of a key held in a shard, and
// whether the snapshot includes it.
func (s *snapshotWriter) kgOf(key string) (string, bool) {
	kg := keyGroup(key, s.e.nkg)
	if !s.kgs[kg] {
		return "", false
	}
	return keyGroupID(kg), true
}

func (s *snapshotWriter) frame(kind byte, e *wire.Enc) {
	if s.err != nil {
		return
	}
	s.err = s.fw.Frame(kind, e.Bytes())
	s.frames++
}

// ref returns an event's number, writing the event first if it is new.
func (s *snapshotWriter) ref(ev *event.Event) uint64 {
	if ev == nil {
		return 0
	}
	if r, ok := s.events[ev]; ok {
		return r
	}
	r := uint64(len(s.events) + 1)
	s.events[ev] = r
	e := &s.evEnc
	e.Reset()
	e.Uvarint(r)
	e.String(ev.ID)
	e.Varint(ev.Time)
	e.Uvarint(ev.Seq)
	e.Tree(ev.Fields)
	s.frame(frameEvent, e)
	return r
}

func (s *snapshotWriter) write(ctx context.Context, parts []*partition, bare []*input, full bool) error {
	e := s.e
	enc := &s.enc
	enc.Reset()
	enc.String(snapshotMagic)
	enc.Uvarint(SnapshotVersion)
	enc.Varint(e.cfg.now().UnixMilli())
	enc.Uvarint(uint64(e.nkg))
	enc.Bool(full)
	enc.Varint(e.floor)
	enc.Varint(e.wmX)
	var ids []string
	for kg, in := range s.kgs {
		if in {
			ids = append(ids, keyGroupID(kg))
		}
	}
	for _, p := range parts {
		ids = append(ids, p.id)
	}
	for _, in := range bare {
		ids = append(ids, inputPartitionID(in.name))
	}
	enc.Uvarint(uint64(len(ids)))
	for _, id := range ids {
		enc.String(id)
	}
	s.frame(frameHeader, enc)

	for ix, r := range e.rs.Rules {
		s.rules[ix] = uint64(ix + 1)
		enc.Reset()
		enc.Uvarint(uint64(ix + 1))
		enc.String(r.Name)
		enc.String(r.MatchHash)
		if r.Sequence != nil {
			enc.Uvarint(1)
			enc.String(e.workers[0].nfas[ix].Fingerprint())
		} else {
			enc.Uvarint(0)
			enc.String("")
		}
		s.frame(frameRule, enc)
	}

	// The inputs whose state goes with the snapshot: those of the input
	// partitions named, or all in a full snapshot (their buffers feed
	// the key groups).
	var inputs []*input
	for _, in := range e.inputList {
		if full || (in.part != nil && slices.Contains(parts, in.part)) || slices.Contains(bare, in) {
			inputs = append(inputs, in)
		}
	}
	for _, in := range inputs {
		enc.Reset()
		enc.String(in.name)
		enc.Varint(in.opts.OutOfOrderness.Milliseconds())
		enc.Varint(in.opts.IdleTimeout.Milliseconds())
		enc.String(in.opts.PartitionKey)
		enc.Bool(in.hasTime)
		enc.Varint(in.maxTime)
		enc.Varint(in.wm)
		enc.Uvarint(in.seq)
		s.frame(frameInput, enc)
	}

	// The key groups: each shard's watermark and timer counter stand for
	// those of every key group it holds.
	for kg, in := range s.kgs {
		if !in {
			continue
		}
		sh := e.shards[kg%len(e.shards)]
		enc.Reset()
		enc.String(keyGroupID(kg))
		enc.Varint(sh.wm)
		enc.Uvarint(sh.timerSeq)
		s.frame(framePartition, enc)
	}
	for _, sh := range e.shards {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.partition(sh)
		if s.err != nil {
			return s.err
		}
	}
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return err
		}
		enc.Reset()
		enc.String(p.id)
		enc.Varint(p.wm)
		enc.Uvarint(p.timerSeq)
		s.frame(framePartition, enc)
		s.partition(p)
		if s.err != nil {
			return s.err
		}
	}

	for _, in := range inputs {
		in.buf.each(func(it *item) { s.buffered(in, 0, it) })
		in.xq.each(func(it *item) { s.buffered(in, 1, it) })
	}
	for _, id := range ids {
		for _, a := range e.out.pendingOf(id) {
			data, err := json.Marshal(a)
			if err != nil {
				return fmt.Errorf("alert %s: %w", a.ID, err)
			}
			enc.Reset()
			enc.String(id)
			enc.Blob(data)
			s.frame(frameAlert, enc)
		}
	}
	enc.Reset()
	enc.Uvarint(s.frames)
	s.frame(frameEnd, enc)
	if s.err != nil {
		return s.err
	}
	return s.fw.Flush()
}

func (s *snapshotWriter) buffered(in *input, where uint64, it *item) {
	r := s.ref(it.ev)
	enc := &s.enc
	enc.Reset()
	enc.String(in.name)
	enc.Uvarint(where)
	enc.Uvarint(r)
	s.frame(frameBuffered, enc)
}

// partition writes a partition's keys, throttle clocks and timers: for a
// shard, those of the key groups included, each under its key group's id.
func (s *snapshotWriter) partition(p *partition) {
	enc := &s.enc
	src := func(key string) (string, bool) {
		if p.in != nil {
			return p.id, true
		}
		return s.kgOf(key)
	}
	for ix, rs := range p.rule {
		if rs == nil {
			continue
		}
		ref := s.rules[ix]
		for _, key := range sortedKeys(rs.thr) {
			id, ok := src(key)
			if !ok {
				continue
			}
			k := rs.thr[key]
			last := s.ref(k.last) // before the frame is begun: it may write an event
			enc.Reset()
			enc.Uvarint(ref)
			enc.String(id)
			enc.String(key)
			enc.Bool(k.lastTrue)
			enc.Uvarint(last)
			enc.Varint(k.end)
			enc.Varint(k.scheduled)
			enc.Varint(k.ttlAt)
			enc.Varint(k.expiry)
			enc.Bool(k.win != nil)
			if k.win != nil {
				k.win.Encode(enc)
			}
			s.frame(frameKey, enc)
		}
		nfa := s.e.workers[0].nfas[ix]
		for _, key := range sortedKeys(rs.seq) {
			id, ok := src(key)
			if !ok {
				continue
			}
			k := rs.seq[key]
			// Events are written as the state refers to them, so the
			// state is encoded apart and copied into the frame.
			st := &s.stEnc
			st.Reset()
			nfa.EncodeState(st, k.st, s.ref)
			enc.Reset()
			enc.Uvarint(ref)
			enc.String(id)
			enc.String(key)
			enc.Varint(k.scheduled)
			enc.Varint(k.lastEvent)
			enc.Varint(k.ttlAt)
			enc.Blob(st.Bytes())
			s.frame(frameKey, enc)
		}
		for _, key := range sortedKeys(rs.throttle) {
			id, ok := src(key)
			if !ok {
				continue
			}
			enc.Reset()
			enc.Uvarint(ref)
			enc.String(id)
			enc.String(key)
			enc.Varint(rs.throttle[key])
			s.frame(frameThrottle, enc)
		}
	}
	for _, t := range p.timers {
		if t.rs.dead {
			continue
		}
		id, ok := src(t.key)
		if !ok {
			continue
		}
		enc.Reset()
		enc.Uvarint(s.rules[t.rs.ix])
		enc.String(id)
		enc.String(t.key)
		enc.Varint(t.At)
		enc.Uvarint(t.seq)
		enc.Uvarint(uint64(t.kind))
		s.frame(frameTimer, enc)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
