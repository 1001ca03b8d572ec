package cep

import (
	"context"
	"strconv"
	"testing"

	"github.com/vigilhq/vigil/event"
)

func BenchmarkOverheadNoState(b *testing.B) {
	rs := mustLoad(b, "rules:\n  - name: r\n    key: card_id\n    where: type == \"never\"\n    threshold: {window: 10m, condition: count() >= 5}\n")
	eng, err := New(rs)
	if err != nil {
		b.Fatal(err)
	}
	ev0 := &event.Event{ID: "x", Fields: map[string]any{"type": "auth", "card_id": "c" + strconv.Itoa(1)}}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev := *ev0
		ev.Time = int64(i)
		if err := eng.ProcessEvent(ctx, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOverheadKeyOnly(b *testing.B) {
	rs := mustLoad(b, "rules:\n  - name: r\n    key: card_id\n    threshold: {where: type == \"never\", window: 10m, condition: count() >= 5}\n")
	eng, err := New(rs)
	if err != nil {
		b.Fatal(err)
	}
	ev0 := &event.Event{ID: "x", Fields: map[string]any{"type": "auth", "card_id": "c" + strconv.Itoa(1)}}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev := *ev0
		ev.Time = int64(i)
		if err := eng.ProcessEvent(ctx, &ev); err != nil {
			b.Fatal(err)
		}
	}
}
