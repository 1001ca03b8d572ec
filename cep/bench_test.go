package cep

import (
	"bytes"
	"context"
	"math/rand"
	"strconv"
	"testing"

	"github.com/vigilhq/vigil/event"
)

var benchOpts []Option

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
	eng, err := New(rs, benchOpts...)
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

// snapshotEngine returns an engine holding state for 100k keys of each
// of two rules: a sliding window of a few events per card, and partial
// matches of a 3-stage sequence per account.
func snapshotEngine(b *testing.B) *Engine {
	rs := mustLoad(b, `rules:
  - name: declined-velocity
    key: card_id
    threshold:
      window: 1h
      condition: count() >= 50 && sum(amount) > 100
  - name: login-payee-transfer
    key: card_id
    pattern:
      - begin: login
        where: type == "login"
      - followed_by: payee
        where: type == "new_payee"
      - followed_by: transfer
        where: type == "transfer" && amount > 900
    within: 1h
`)
	eng, err := New(rs)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	kinds := [...]string{"login", "new_payee", "view"}
	const keys = 100000
	for i := 0; i < 3*keys; i++ {
		ev := &event.Event{ID: "e" + strconv.Itoa(i), Time: int64(i / 100), Fields: map[string]any{
			"type": kinds[i/keys], "card_id": "card-" + strconv.Itoa(i%keys), "amount": float64(i % 1000)}}
		if err := eng.ProcessEvent(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	return eng
}

// BenchmarkSnapshot100kKeys: one op writes the state of 100k keys of a
// threshold rule (3 events each in the window) and 100k of a sequence
// rule (a partial match of 2 events each). Reports bytes per key and the
// time per 100k keys (the engine's pause).
func BenchmarkSnapshot100kKeys(b *testing.B) {
	eng := snapshotEngine(b)
	defer eng.Close(context.Background())
	ctx := context.Background()
	var size int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A checkpoint goes to a file: count the bytes, keep none.
		var w countingWriter
		if err := eng.Snapshot(ctx, &w); err != nil {
			b.Fatal(err)
		}
		size = int(w)
	}
	b.StopTimer()
	st := eng.Stats()
	keys := st.Rules["declined-velocity"].Keys + st.Rules["login-payee-transfer"].Keys
	b.ReportMetric(float64(size)/float64(keys), "bytes/key")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/float64(keys)*100000, "ms/100k-keys")
}

// BenchmarkRestore100kKeys: one op restores that snapshot into a new
// engine.
func BenchmarkRestore100kKeys(b *testing.B) {
	eng := snapshotEngine(b)
	ctx := context.Background()
	var buf bytes.Buffer
	if err := eng.Snapshot(ctx, &buf); err != nil {
		b.Fatal(err)
	}
	st := eng.Stats()
	keys := st.Rules["declined-velocity"].Keys + st.Rules["login-payee-transfer"].Keys
	_ = eng.Close(ctx)
	data := buf.Bytes()
	rs := eng.Ruleset()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fresh, err := New(rs)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := fresh.Restore(ctx, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = fresh.Close(ctx)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/float64(keys)*100000, "ms/100k-keys")
}

// BenchmarkVelocityBatch256 pushes the velocity rule's events 256 at a
// time through an input with an ack, as serve does with its batches, over
// 100k keys. One op is one event.
func BenchmarkVelocityBatch256(b *testing.B) {
	rs := mustLoad(b, `rules:
  - name: declined-velocity
    key: card_id
    where: type == "auth"
    threshold:
      where: status == "declined"
      window: 10m
      condition: count() >= 5 && sum(amount) > 100
`)
	eng, err := New(rs, benchOpts...)
	if err != nil {
		b.Fatal(err)
	}
	in, err := eng.OpenInput("bench", InputOptions{})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewSource(1))
	const n = 1 << 16
	keys := make([]string, 100000)
	for i := range keys {
		keys[i] = "card-" + strconv.Itoa(i)
	}
	events := make([]event.Event, n)
	for i := range events {
		status := "approved"
		if r.Intn(2) == 0 {
			status = "declined"
		}
		events[i] = event.Event{ID: strconv.Itoa(i), Fields: map[string]any{
			"type": "auth", "card_id": keys[r.Intn(len(keys))], "status": status, "amount": float64(r.Intn(100))}}
	}
	ctx := context.Background()
	batch := make([]*event.Event, 0, 256)
	acked := 0
	ack := func() { acked++ }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev := new(event.Event)
		*ev = events[i%n]
		ev.Time = int64(i)
		if batch = append(batch, ev); len(batch) == cap(batch) || i == b.N-1 {
			if _, err := in.Push(ctx, batch, ack); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := eng.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkVelocity100k is the velocity rule one event per Process call
// over 100k keys, as `vigil bench` runs it (distinct event objects).
func BenchmarkVelocity100k(b *testing.B) {
	rs := mustLoad(b, `rules:
  - name: declined-velocity
    key: card_id
    where: type == "auth"
    threshold:
      where: status == "declined"
      window: 10m
      condition: count() >= 5 && sum(amount) > 100
`)
	eng, err := New(rs, benchOpts...)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewSource(1))
	const n = 1 << 20
	keys := make([]string, 100000)
	for i := range keys {
		keys[i] = "card-" + strconv.Itoa(i)
	}
	events := make([]event.Event, n)
	for i := range events {
		status := "approved"
		if r.Intn(2) == 0 {
			status = "declined"
		}
		events[i] = event.Event{ID: strconv.Itoa(i), Time: int64(i), Fields: map[string]any{
			"type": "auth", "card_id": keys[r.Intn(len(keys))], "status": status, "amount": float64(r.Intn(100))}}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev := &events[i%n]
		ev.Time = int64(i)
		if err := eng.ProcessEvent(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
