package cep

import (
	"bytes"
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"
)

func TestNonFiniteValuesDoNotBlockAlerts(t *testing.T) {
	ctx := context.Background()
	for _, body := range []string{
		"threshold: {window: 10m, condition: count() >= 1}\nalert:\n  fields: {sd: stddev(amount), r: sum(amount) / 0, z: 0.0 / 0.0}",
		"threshold: {window: 10m, condition: count() >= 1}\nalert:\n  fields: {a: avg(amount)}",
	} {
		rs, err := loadErr(rule(body))
		if err != nil {
			t.Logf("load: %v", err)
			continue
		}
		var got []Alert
		var down atomic.Bool
		down.Store(true)
		eng, _ := New(rs, WithAlertHandler(func(_ context.Context, a Alert) error {
			if down.Load() {
				return context.DeadlineExceeded
			}
			got = append(got, a)
			return nil
		}), WithDeliveryBackoff(time.Millisecond, time.Millisecond))
		_ = eng.Process(ctx, map[string]any{"ts": at("10:00"), "card": "c1", "amount": 1.0})
		_ = eng.Process(ctx, map[string]any{"ts": at("10:01"), "card": "c2"})
		time.Sleep(20 * time.Millisecond)
		st := eng.Stats()
		var snap bytes.Buffer
		err = eng.Snapshot(ctx, &snap)
		t.Logf("pending %d; snapshot: %v", st.Pending, err)
		down.Store(false)
		_ = eng.Close(ctx)
		for _, a := range got {
			_, jerr := json.Marshal(a)
			t.Logf("fields %v values %v json err %v", a.Fields, a.Values, jerr)
		}
	}
}

func loadErr(y string) (*rulesT, error) {
	return rulesLoad(y)
}
