package cep

import (
	"context"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
)

// An ack with no alert before it runs on the pushing goroutine. A Flush
// that starts while it runs waits for it, and must be woken when it ends,
// not only when the next alert leaves the queue.
func TestFlushWakesWhenAnInlineAckEnds(t *testing.T) {
	ctx := context.Background()
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 100}")))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = eng.Close(ctx) }()
	in, _ := eng.OpenInput("a", InputOptions{})
	running, release := make(chan struct{}), make(chan struct{})
	go func() {
		ev := &event.Event{Time: at("10:00"), Fields: map[string]any{"card": "c1"}}
		_, _ = in.Push(ctx, []*event.Event{ev}, func() { close(running); <-release })
	}()
	<-running
	flushed := make(chan error, 1)
	go func() { flushed <- eng.Flush(ctx) }()
	time.Sleep(20 * time.Millisecond) // let Flush see the ack running
	select {
	case err := <-flushed:
		t.Fatalf("Flush returned (%v) while an ack was still running", err)
	default:
	}
	close(release)
	select {
	case err := <-flushed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Flush still waits after the ack ended")
	}
}
