package cep

import (
	"bytes"
	"context"
	"testing"
)

// The gauges (keys held, partial matches) are the state's, so a restore
// brings them back; counters (alerts raised so far) start again at zero in
// the restoring process, as a metric counter does after a restart.
func TestRestoreKeepsGauges(t *testing.T) {
	ctx := context.Background()
	a, _ := New(mustLoad(t, mixedRules))
	for _, e := range randomEvents(3, 500, 10) {
		_ = a.Process(ctx, e)
	}
	_ = a.Flush(ctx)
	var snap bytes.Buffer
	_ = a.Snapshot(ctx, &snap)
	before := a.Stats()
	b, _ := New(mustLoad(t, mixedRules))
	if _, err := b.Restore(ctx, &snap); err != nil {
		t.Fatal(err)
	}
	after := b.Stats()
	for _, name := range []string{"velocity", "merchants", "probe"} {
		x, y := before.Rules[name], after.Rules[name]
		if x.Keys != y.Keys || x.Partial != y.Partial || x.Keys == 0 {
			t.Errorf("%s: keys %d → %d, partial matches %d → %d", name, x.Keys, y.Keys, x.Partial, y.Partial)
		}
	}
	_ = a.Close(ctx)
	_ = b.Close(ctx)
}
