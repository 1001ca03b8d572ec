package cep_test

import (
	"context"
	"fmt"
	"log"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/rules"
)

// A velocity rule embedded in a Go program: three declines on one card
// within ten minutes raise an alert.
func Example() {
	rs, err := rules.Load([]rules.Source{{Name: "velocity.yaml", Data: []byte(`
rules:
  - name: declined-velocity
    key: card_id
    threshold:
      where: status == "declined"
      window: 10m
      condition: count() >= 3
    alert:
      summary: '{{ count() }} declines on card {{ key }}'
`)}})
	if err != nil {
		log.Fatal(err)
	}
	eng, err := cep.New(rs, cep.WithAlertHandler(func(_ context.Context, a cep.Alert) error {
		fmt.Println(a.Rule, a.Key, a.Time.Format("15:04:05"), a.EventIDs, a.Summary)
		return nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for _, ev := range []string{
		`{"id":"t1","ts":"2026-11-20T10:00:00Z","card_id":"c1","status":"declined"}`,
		`{"id":"t2","ts":"2026-11-20T10:03:00Z","card_id":"c1","status":"approved"}`,
		`{"id":"t3","ts":"2026-11-20T10:04:00Z","card_id":"c1","status":"declined"}`,
		`{"id":"t4","ts":"2026-11-20T10:09:00Z","card_id":"c1","status":"declined"}`,
	} {
		if err := eng.Process(ctx, []byte(ev)); err != nil {
			log.Fatal(err)
		}
	}
	if err := eng.Close(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// declined-velocity c1 10:09:00 [t1 t3 t4] 3 declines on card c1
}

// Tumbling windows close when the watermark passes their end, so a batch
// job advances the watermark to the end of time before it closes.
func ExampleEngine_AdvanceWatermark() {
	rs, err := rules.Load([]rules.Source{{Name: "daily.yaml", Data: []byte(`
rules:
  - name: daily-spend
    key: card_id
    threshold:
      window: {size: 1d, type: tumbling}
      condition: sum(amount) > 1000
`)}})
	if err != nil {
		log.Fatal(err)
	}
	eng, err := cep.New(rs, cep.WithAlertHandler(func(_ context.Context, a cep.Alert) error {
		fmt.Println(a.Rule, a.Key, a.Time.Format("2006-01-02T15:04:05.000"), a.Values["sum(amount)"])
		return nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for _, ev := range []map[string]any{
		{"id": "a", "ts": "2026-11-20T09:00:00Z", "card_id": "c1", "amount": 600.0},
		{"id": "b", "ts": "2026-11-20T18:00:00Z", "card_id": "c1", "amount": 700.0},
	} {
		if err := eng.Process(ctx, ev); err != nil {
			log.Fatal(err)
		}
	}
	if err := eng.AdvanceWatermark(ctx, cep.EndOfTime); err != nil {
		log.Fatal(err)
	}
	_ = eng.Close(ctx)
	// Output:
	// daily-spend c1 2026-11-20T23:59:59.999 1300
}
