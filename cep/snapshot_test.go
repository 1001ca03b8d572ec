package cep

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/wire"
)

// snapshotOf runs events through a fresh engine and returns its snapshot.
func snapshotOf(t testing.TB, evs []map[string]any) []byte {
	t.Helper()
	ctx := context.Background()
	eng, err := New(mustLoad(t, mixedRules), WithOutOfOrderness(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		_ = eng.Process(ctx, ev)
	}
	if err := eng.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := eng.Snapshot(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	_ = eng.Close(ctx)
	return buf.Bytes()
}

// A snapshot of the same state is the same bytes (keys are written in
// order), and restoring it then snapshotting again gives them back.
func TestSnapshotIsDeterministic(t *testing.T) {
	evs := randomEvents(4, 800, 20)
	a, b := snapshotOf(t, evs), snapshotOf(t, evs)
	sameFrames(t, "two snapshots of the same run", a, b)
	ctx := context.Background()
	eng, err := New(mustLoad(t, mixedRules), WithOutOfOrderness(3*time.Second), WithClock(func() time.Time { return time.Time{} }))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := eng.Restore(ctx, bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Keys == 0 || rep.Buffered == 0 || rep.Partitions != DefaultKeyGroups || len(rep.Dropped) != 0 {
		t.Errorf("restore report %+v", rep)
	}
	var again bytes.Buffer
	if err := eng.Snapshot(ctx, &again); err != nil {
		t.Fatal(err)
	}
	sameFrames(t, "snapshot → restore → snapshot", a, again.Bytes())
	_ = eng.Close(ctx)
}

// The state of a rule whose matching definition changed, or that is gone,
// is dropped on restore exactly as an update drops it; the others keep
// theirs.
func TestRestoreDropsChangedRules(t *testing.T) {
	ctx := context.Background()
	snap := snapshotOf(t, randomEvents(5, 500, 20))
	changed := strings.Replace(mixedRules, "within: 20m", "within: 25m", 1)          // probe's matching definition
	changed = strings.Replace(changed, "  - name: daily\n", "  - name: daily2\n", 1) // daily gone
	changed = strings.Replace(changed, "count() >= 3 && sum(amount) > 10", "count() >= 3 && sum(amount) > 10\n    severity: high", 1)
	eng, err := New(mustLoad(t, changed))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := eng.Restore(ctx, bytes.NewReader(snap))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rep.Dropped, ","); got != "daily,probe" {
		t.Errorf("dropped %q; want daily,probe", got)
	}
	st := eng.Stats()
	if st.Rules["probe"].Keys != 0 || st.Rules["daily2"].Keys != 0 || st.Rules["velocity"].Keys == 0 {
		t.Errorf("after restore: probe %d keys, daily2 %d, velocity %d", st.Rules["probe"].Keys, st.Rules["daily2"].Keys, st.Rules["velocity"].Keys)
	}
	_ = eng.Close(ctx)
}

// Alerts raised but not delivered when the snapshot was taken are part of
// it, and are delivered by the engine that restores it.
func TestSnapshotKeepsUndeliveredAlerts(t *testing.T) {
	ctx := context.Background()
	down := &flakyHandler{fails: 1 << 30}
	first, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}")),
		WithAlertHandler(down.handle), WithDeliveryBackoff(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"e1 10:00 c1", "e2 10:00 c2"} {
		if err := first.Process(ctx, parseEvent(t, l)); err != nil {
			t.Fatal(err)
		}
	}
	var snap bytes.Buffer
	if err := first.Snapshot(ctx, &snap); err != nil {
		t.Fatal(err)
	}
	up := &flakyHandler{}
	second, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}")), WithAlertHandler(up.handle))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := second.Restore(ctx, &snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := alertLines(up.alerts()); rep.Alerts != 2 || !sameLines(got, []string{"r c1 10:00:00.000 e1", "r c2 10:00:00.000 e2"}) {
		t.Errorf("restored %d alerts, delivered %q", rep.Alerts, got)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	_ = first.Close(short)
}

// A corrupt, truncated or foreign snapshot is an error and changes
// nothing.
func TestRestoreRejectsBadSnapshots(t *testing.T) {
	ctx := context.Background()
	snap := snapshotOf(t, randomEvents(6, 300, 10))
	bad := map[string][]byte{
		"empty":     nil,
		"foreign":   []byte("not a snapshot at all"),
		"truncated": snap[:len(snap)/2],
		"no end":    snap[:len(snap)-7],
		"flipped":   flip(snap, len(snap)/3),
		"trailing":  append(append([]byte(nil), snap...), 'H', 0, 0, 0, 0, 0),
	}
	for name, data := range bad {
		eng, err := New(mustLoad(t, mixedRules))
		if err != nil {
			t.Fatal(err)
		}
		if err := eng.Process(ctx, map[string]any{"ts": at("09:00"), "card": "keep", "status": "declined", "amount": 50.0}); err != nil {
			t.Fatal(err)
		}
		before := eng.Stats().Rules["velocity"].Keys
		if _, err := eng.Restore(ctx, bytes.NewReader(data)); !errors.Is(err, ErrSnapshot) {
			t.Errorf("%s: Restore = %v; want ErrSnapshot", name, err)
		}
		if after := eng.Stats().Rules["velocity"].Keys; after != before {
			t.Errorf("%s: a failed restore changed the state (%d keys → %d)", name, before, after)
		}
		_ = eng.Close(ctx)
	}
}

// sameFrames compares two snapshots frame by frame, but for the header
// (which holds the wall-clock time it was written at).
func sameFrames(t *testing.T, what string, a, b []byte) {
	t.Helper()
	ra, rb := wire.NewReader(bytes.NewReader(a)), wire.NewReader(bytes.NewReader(b))
	for n := 0; ; n++ {
		ka, pa, ea := ra.Next()
		kb, pb, eb := rb.Next()
		if ea != nil || eb != nil {
			if ea != io.EOF || eb != io.EOF {
				t.Errorf("%s: frame %d: %v / %v", what, n, ea, eb)
			}
			return
		}
		if ka != kb || (n > 0 && !bytes.Equal(pa, pb)) {
			t.Errorf("%s: frame %d differs: %q %q / %q %q", what, n, ka, pa, kb, pb)
			return
		}
	}
}

func flip(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	out[i] ^= 0x10
	return out
}

// FuzzRestore feeds Restore arbitrary bytes and mutated snapshots: it
// never panics, and what it accepts leaves a working engine.
func FuzzRestore(f *testing.F) {
	f.Add(snapshotOf(f, randomEvents(7, 30, 4)))
	f.Add(snapshotOf(f, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		eng, err := New(mustLoad(t, mixedRules))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Restore(ctx, bytes.NewReader(data)); err == nil {
			for _, ev := range randomEvents(8, 50, 8) {
				_ = eng.Process(ctx, ev)
			}
			_ = eng.AdvanceWatermark(ctx, EndOfTime)
		}
		_ = eng.Close(ctx)
	})
}
