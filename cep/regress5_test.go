package cep

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
)

// The header writes the number of key groups as an unsigned varint and
// reads it back as a signed (zig-zag) one: 128 reads as 64, 7 as -4.
func TestSnapshotKeyGroupCounts(t *testing.T) {
	ctx := context.Background()
	rs := rule("threshold: {window: 10m, condition: count() >= 2}")
	mk := func(groups int) *Engine {
		eng, err := New(mustLoad(t, rs), WithKeyGroups(groups))
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}
	for _, tc := range []struct {
		from, to int
		parts    []string
	}{
		{7, 7, nil},
		{1, 1, nil},
		{128, 64, nil},
		{128, 128, []string{"kg/3"}},
		{128, 128, []string{"input/p0"}},
	} {
		src := mk(tc.from)
		in, _ := src.OpenInput("p0", InputOptions{PartitionKey: "card", OutOfOrderness: time.Minute})
		_, _ = in.Push(ctx, []*event.Event{ev("e1", "10:00", "c1", "m1")}, nil)
		_ = src.Process(ctx, map[string]any{"ts": at("10:00"), "card": "c2"})
		var snap bytes.Buffer
		if err := src.Snapshot(ctx, &snap, tc.parts...); err != nil {
			t.Fatal(err)
		}
		dst := mk(tc.to)
		if _, err := dst.Restore(ctx, &snap); err != nil {
			t.Errorf("snapshot of %v from %d key groups into %d: %v", tc.parts, tc.from, tc.to, err)
		}
		_ = src.Close(ctx)
		_ = dst.Close(ctx)
	}
}
