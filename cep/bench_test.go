package cep

import (
	"context"
	"math/rand"
	"strconv"
	"testing"

	"github.com/vigilhq/vigil/event"
)

// BenchmarkThresholdVelocity runs the velocity rule of `vigil bench` over
// 10k keys: rule where, key, threshold where, two aggregates, condition.
func BenchmarkThresholdVelocity(b *testing.B) {
	rs := mustLoad(b, `rules:
  - name: declined-velocity
    key: card_id
    where: type == "auth"
    threshold:
      where: status == "declined"
      window: 10m
      condition: count() >= 5 && sum(amount) > 100
`)
	eng, err := New(rs)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewSource(1))
	const n = 1 << 16
	events := make([]*event.Event, n)
	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = "card-" + strconv.Itoa(i)
	}
	for i := range events {
		status := "approved"
		if r.Intn(2) == 0 {
			status = "declined"
		}
		events[i] = &event.Event{ID: strconv.Itoa(i), Fields: map[string]any{
			"type": "auth", "card_id": keys[r.Intn(len(keys))], "status": status, "amount": float64(r.Intn(100))}}
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
}

// BenchmarkSequence3 runs a 3-stage sequence over 100k keys through the
// engine: key, three conditions, the NFA, keyed state and timers.
func BenchmarkSequence3(b *testing.B) {
	rs := mustLoad(b, `rules:
  - name: login-payee-transfer
    key: account
    pattern:
      - begin: login
        where: type == "login"
      - followed_by: payee
        where: type == "new_payee"
      - followed_by: transfer
        where: type == "transfer" && amount > 900
    within: 10m
`)
	eng, err := New(rs)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewSource(1))
	const n = 1 << 16
	kinds := [...]string{"login", "new_payee", "transfer", "view", "view"}
	keys := make([]string, 100000)
	for i := range keys {
		keys[i] = "acct-" + strconv.Itoa(i)
	}
	events := make([]*event.Event, n)
	for i := range events {
		events[i] = &event.Event{ID: strconv.Itoa(i), Fields: map[string]any{
			"type": kinds[r.Intn(len(kinds))], "account": keys[r.Intn(len(keys))], "amount": float64(r.Intn(1000))}}
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
}
