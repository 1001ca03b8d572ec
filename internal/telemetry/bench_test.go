package telemetry

import (
	"context"
	"math/rand"
	"strconv"
	"testing"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/rules"
)

// BenchmarkEngineMetrics runs the velocity rule of `vigil bench` (10k
// keys, one event per ProcessEvent: the observer's worst case) with the
// metrics off and on, in the same run, so the two compare on one machine
// state. BENCHMARKS.md records the ratio.
func BenchmarkEngineMetrics(b *testing.B) {
	rs, err := rules.Load([]rules.Source{{Name: "velocity.yaml", Data: []byte(`rules:
  - name: declined-velocity
    key: card_id
    where: type == "auth"
    threshold:
      where: status == "declined"
      window: 10m
      condition: count() >= 5 && sum(amount) > 100
`)}})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewSource(1))
	const n = 1 << 16
	events := make([]*event.Event, n)
	for i := range events {
		status := "approved"
		if r.Intn(2) == 0 {
			status = "declined"
		}
		events[i] = &event.Event{ID: strconv.Itoa(i), Fields: map[string]any{
			"type": "auth", "card_id": "card-" + strconv.Itoa(r.Intn(10000)), "status": status, "amount": float64(r.Intn(100))}}
	}
	for _, on := range []bool{false, true} {
		name := "metrics=off"
		if on {
			name = "metrics=on"
		}
		b.Run(name, func(b *testing.B) {
			opts := []cep.Option{cep.WithAlertHandler(func(context.Context, cep.Alert) error { return nil })}
			if on {
				m, err := NewMetrics()
				if err != nil {
					b.Fatal(err)
				}
				opts = append(opts, cep.WithObserver(m.Observer()))
				defer m.Shutdown(context.Background())
			}
			eng, err := cep.New(rs, opts...)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ev := *events[i%n]
				ev.Time = int64(i)
				if err := eng.ProcessEvent(ctx, &ev); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			_ = eng.Close(ctx)
		})
	}
}
