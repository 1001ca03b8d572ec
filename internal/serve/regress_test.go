package serve

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/rules"
	"github.com/vigilhq/vigil/sources"
)

// A batch of a partition's records waiting in Push (the engine is full)
// while the partition is revoked and assigned again lands in the input of
// the new assignment: the handle names the input, not the assignment.
func TestStaleKafkaBatchDoesNotFeedTheReassignedInput(t *testing.T) {
	rs, err := rules.Load([]rules.Source{{Name: "r.yaml", Data: []byte(`rules:
  - name: r
    key: card
    threshold: {window: 10m, condition: count() >= 1}
    emit: every
`)}})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var once sync.Once
	eng, err := cep.New(rs, cep.WithAlertQueue(1), cep.WithAlertHandler(func(ctx context.Context, a cep.Alert) error {
		once.Do(func() { <-release })
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	k := &kafkaInput{src: &sources.Kafka{}, eng: eng, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		topic: "events", inputs: map[int]*cep.Input{}}
	k.assign([]int{0})
	rec := func(id string, ms int64) sources.Record {
		return sources.Record{Event: &event.Event{ID: id, Time: ms, Fields: map[string]any{"card": "c1"}}, Partition: 0}
	}
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixMilli()
	ctx := context.Background()
	k.push(ctx, []sources.Record{rec("first", base)}) // its alert fills the queue, delivery blocked
	done := make(chan bool)
	go func() { done <- k.push(ctx, []sources.Record{rec("stale", base+3600_000)}) }() // old generation's record
	time.Sleep(100 * time.Millisecond)
	k.revoke([]int{0})
	k.assign([]int{0}) // the partition comes back: a fresh input, to be read from the committed offset
	close(release)
	<-done
	_ = eng.Flush(ctx)
	st := eng.Stats().Inputs["kafka:events/0"]
	if st.HasWatermark {
		t.Errorf("the freshly assigned input got the old generation's record: its watermark is %s before it read anything", st.Watermark)
	}
	// The new generation now re-reads from the committed offset: "first"'s
	// successor at base+1min is late in the new input.
	in := k.input(0)
	rej, err := in.Push(ctx, []*event.Event{{ID: "refetched", Time: base + 60_000, Fields: map[string]any{"card": "c1"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rej) > 0 {
		t.Errorf("a record re-read after the reassignment is rejected: %v", rej[0].Err)
	}
	_ = eng.Close(ctx)
}
