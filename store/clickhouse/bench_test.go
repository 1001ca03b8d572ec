package clickhouse

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/gen"
)

// benchRows are n events of `vigil gen`, decoded.
func benchRows(b *testing.B, n int) []Row {
	g, err := gen.New(gen.Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := gen.Stream(context.Background(), g, gen.WriterSink{W: &buf}, gen.Limits{Count: n}); err != nil {
		b.Fatal(err)
	}
	dec := event.Decoder{}
	rows := make([]Row, 0, n)
	for i, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		pos := fmt.Sprintf("gen:%d", i+1)
		ev, err := dec.Decode(line, pos)
		if err != nil {
			b.Fatal(err)
		}
		rows = append(rows, Row{Event: ev, Raw: line, Source: "gen", Position: pos})
	}
	return rows
}

const benchEvents = 200_000

// BenchmarkEventWriter: events/s through vigil's writer (queue, batches
// of 50000, acks), 1000 events per Add as HTTP requests bring them.
func BenchmarkEventWriter(b *testing.B) {
	rows := benchRows(b, benchEvents)
	s := openTest(b, Config{KeyFields: []string{"card_id", "account_id"}})
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		w := s.NewEventWriter()
		for i := 0; i < len(rows); i += 1000 {
			chunk := rows[i:min(i+1000, len(rows))]
			if err := w.Reserve(context.Background(), len(chunk), SizeOf(chunk)); err != nil {
				b.Fatal(err)
			}
			w.Add(chunk, func() {})
		}
		if err := w.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/time.Since(start).Seconds(), "events/s")
}

// BenchmarkRawInsert: the same rows as plain clickhouse-go columnar
// batches of 50000, the column slices built before the clock starts: the
// ceiling.
func BenchmarkRawInsert(b *testing.B) {
	rows := benchRows(b, benchEvents)
	s := openTest(b, Config{KeyFields: []string{"card_id", "account_id"}})
	w := &EventWriter{s: s, cfg: s.cfg} // only to lay out the columns
	q := make([]queued, len(rows))
	for i, r := range rows {
		q[i] = queued{Row: r, ingestMs: nowMs(), ingestSeq: uint64(i)}
	}
	var batches [][]any
	for i := 0; i < len(q); i += 50000 {
		batches = append(batches, w.columns(q[i:min(i+50000, len(q))]))
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		for _, cols := range batches {
			if err := s.insertEvents(context.Background(), cols); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/time.Since(start).Seconds(), "events/s")
}
