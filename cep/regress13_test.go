package cep

import (
	"context"
	"testing"

	"github.com/vigilhq/vigil/event"
)

// Close drains the exchange to the newest input's time, not the oldest:
// an absence of a key whose input lags is confirmed although the lagging
// input's next events (still upstream) would have cancelled it.
func TestCloseDoesNotRunTimeAheadOfALaggingInput(t *testing.T) {
	ctx := context.Background()
	c := &collector{}
	eng, _ := New(mustLoad(t, `rules:
  - name: no-capture
    key: card
    pattern:
      - begin: auth
        where: status == "approved"
      - not_followed_by: capture
        where: status == "captured"
    within: 15m
`), WithAlertHandler(c.handle))
	a, _ := eng.OpenInput("kafka:t/0", InputOptions{})
	b, _ := eng.OpenInput("kafka:t/1", InputOptions{})
	mk := func(id, clock, card, status string) []*event.Event {
		return []*event.Event{{ID: id, Time: at(clock), Fields: map[string]any{"card": card, "status": status}}}
	}
	_, _ = a.Push(ctx, mk("auth", "10:00", "c1", "approved"), nil)  // partition 0 lags: its capture at 10:05 is not read yet
	_, _ = b.Push(ctx, mk("other", "12:00", "c2", "declined"), nil) // partition 1 is two hours ahead
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := alertLines(c.got()); len(got) > 0 {
		t.Errorf("Close raised %q: the absence of c1 was confirmed at 10:15 though its input had only reached 10:00", got)
	}
}
