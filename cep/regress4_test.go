package cep

import (
	"bytes"
	"context"
	"testing"

	"github.com/vigilhq/vigil/internal/wire"
)

// A snapshot whose throttle/timer frames name a rule reference that no
// rule frame declared: readKey refuses such a frame, readThrottle and
// readTimer take it as rule index 0.
func TestRestoreRejectsUnknownRuleRefs(t *testing.T) {
	ctx := context.Background()
	src, err := New(mustLoad(t, mixedRules))
	if err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if err := src.Snapshot(ctx, &snap); err != nil {
		t.Fatal(err)
	}
	frames := readFrames(t, snap.Bytes())
	// insert a timer frame with rule ref 99 before the end frame
	var enc wire.Enc
	enc.Uvarint(99)
	enc.String("kg/0")
	enc.String("zz")
	enc.Varint(at("10:00"))
	enc.Uvarint(1)
	enc.Uvarint(uint64(timerRule))
	var th wire.Enc
	th.Uvarint(99)
	th.String("kg/0")
	th.String("zz")
	th.Varint(at("10:00"))
	end := frames[len(frames)-1]
	frames = append(frames[:len(frames)-1], rawFrame{frameTimer, enc.Bytes()}, rawFrame{frameThrottle, th.Bytes()})
	var e2 wire.Enc
	e2.Uvarint(uint64(len(frames)))
	_ = end
	frames = append(frames, rawFrame{frameEnd, e2.Bytes()})
	data := writeFrames(frames)

	for _, rs := range []string{mixedRules, "rules: []\n"} {
		eng, err := New(mustLoad(t, rs))
		if err != nil {
			t.Logf("New(%q): %v", rs[:10], err)
			continue
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Restore of a snapshot naming an undeclared rule panics: %v", r)
				}
			}()
			_, err = eng.Restore(ctx, bytes.NewReader(data))
			t.Logf("rules %.12q: Restore = %v; throttle of rule 0 now %v", rs, err, func() any {
				if len(eng.rs.Rules) == 0 || eng.shards[keyGroup("zz", eng.nkg)%len(eng.shards)].rule[0] == nil {
					return nil
				}
				return eng.shards[keyGroup("zz", eng.nkg)%len(eng.shards)].rule[0].throttle
			}())
		}()
	}
}
