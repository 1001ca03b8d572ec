package telemetry

import (
	"context"
	"math/rand"
	"strconv"
	"testing"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/rules"
)

// BenchmarkEngineMetrics runs the velocity rule of `vigil bench` (10k
// keys, one event per ProcessEvent: the observer's worst case) on two
// engines, one without metrics and one feeding them, in alternating
// blocks of 1024 events timed apart: load from elsewhere on the machine
// falls on both alike. It reports ns/event of each and the overhead in
// percent; BENCHMARKS.md records it.
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
	m, err := NewMetrics()
	if err != nil {
		b.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	discard := cep.WithAlertHandler(func(context.Context, cep.Alert) error { return nil })
	off, err := cep.New(rs, discard)
	if err != nil {
		b.Fatal(err)
	}
	on, err := cep.New(rs, discard, cep.WithObserver(m.Observer()))
	if err != nil {
		b.Fatal(err)
	}
	m.Engine(on)
	ctx := context.Background()
	const block = 1024
	var took [2]time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += block {
		// Each goes first in every other block: neither gets the warmer
		// caches.
		order := []int{0, 1}
		if done/block%2 == 1 {
			order = []int{1, 0}
		}
		for _, k := range order {
			eng := []*cep.Engine{off, on}[k]
			start := time.Now()
			for i := done; i < min(done+block, b.N); i++ {
				ev := *events[i%n]
				ev.Time = int64(i)
				if err := eng.ProcessEvent(ctx, &ev); err != nil {
					b.Fatal(err)
				}
			}
			took[k] += time.Since(start)
		}
	}
	b.StopTimer()
	offNS, onNS := float64(took[0].Nanoseconds())/float64(b.N), float64(took[1].Nanoseconds())/float64(b.N)
	b.ReportMetric(offNS, "ns/event-off")
	b.ReportMetric(onNS, "ns/event-on")
	b.ReportMetric(100*(onNS-offNS)/offNS, "%overhead")
	_ = off.Close(ctx)
	_ = on.Close(ctx)
}
