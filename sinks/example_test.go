package sinks_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/sinks"
)

// A Fanout writes every alert to history sinks, but shadow alerts never
// reach action sinks (in production, a Webhook or Kafka sink).
func ExampleFanout() {
	var actions bytes.Buffer
	f := sinks.NewFanout(
		sinks.Target{Name: "stdout", Role: sinks.History, Sink: sinks.NewFile(os.Stdout)},
		sinks.Target{Name: "actions", Role: sinks.Action, Sink: sinks.NewFile(&actions)},
	)
	ctx := context.Background()
	t := time.Date(2026, 11, 20, 10, 4, 5, 123e6, time.UTC)
	live := cep.Alert{ID: "a1", Rule: "card-testing", RuleVersion: 7, Severity: "high", Key: "card-123", Time: t, DetectedAt: t}
	trial := live
	trial.ID, trial.Rule, trial.Shadow = "b2", "card-testing-v2", true

	for _, a := range []cep.Alert{live, trial, live} { // the second live is a duplicate
		if err := f.Write(ctx, a); err != nil {
			fmt.Println(err)
		}
	}
	if err := f.Close(ctx); err != nil {
		fmt.Println(err)
	}
	fmt.Println("action sink lines:", strings.Count(actions.String(), "\n"))
	// Output:
	// {"id":"a1","rule":"card-testing","rule_version":7,"rule_hash":"","match_hash":"","severity":"high","key":"card-123","time":"2026-11-20T10:04:05.123Z","detected_at":"2026-11-20T10:04:05.123Z","summary":"","labels":{},"fields":{},"values":{},"shadow":false,"suppressed":false,"event_ids":[]}
	// {"id":"b2","rule":"card-testing-v2","rule_version":7,"rule_hash":"","match_hash":"","severity":"high","key":"card-123","time":"2026-11-20T10:04:05.123Z","detected_at":"2026-11-20T10:04:05.123Z","summary":"","labels":{},"fields":{},"values":{},"shadow":true,"suppressed":false,"event_ids":[]}
	// action sink lines: 1
}
