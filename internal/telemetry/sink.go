package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vigilhq/vigil/cep"
)

// Sink wraps s so that every batch write is measured under the sink's
// name: its duration by outcome, the alerts taken and the failed writes.
// Every sink vigil writes to goes through it — the store, files, the
// webhook, Kafka, and ClickHouse once it is a sink — so a new sink needs
// no instruments of its own. With tracing on, each write is a span.
func (m *Metrics) Sink(name string, s cep.Sink) cep.Sink {
	m.sinkN.add(name, 0) // the series exist from the start: a rate over them is 0, not absent
	m.sinkErr.add(name, 0)
	return &measuredSink{Sink: s, m: m, name: name,
		ok:  []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(str("sink", name), str("outcome", "ok")))},
		bad: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(str("sink", name), str("outcome", "error")))}}
}

type measuredSink struct {
	cep.Sink
	m       *Metrics
	name    string
	ok, bad []metric.RecordOption
}

func (s *measuredSink) WriteBatch(ctx context.Context, alerts []cep.Alert) error {
	ctx, end := startSinkSpan(ctx, s.name, len(alerts))
	start := time.Now()
	err := s.Sink.WriteBatch(ctx, alerts)
	took := time.Since(start).Seconds()
	end(err)
	if err != nil {
		s.m.sinkWrite.Record(ctx, took, s.bad...)
		s.m.sinkErr.add(s.name, 1)
		return err
	}
	s.m.sinkWrite.Record(ctx, took, s.ok...)
	s.m.sinkN.add(s.name, int64(len(alerts)))
	return nil
}
