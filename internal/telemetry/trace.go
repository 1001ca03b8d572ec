package telemetry

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names vigil's tracer.
const tracerName = "github.com/vigilhq/vigil"

// StartTracing sends spans over OTLP/HTTP to endpoint (a URL such as
// http://collector:4318; the path /v1/traces is added unless it has one)
// and returns the function that flushes and stops it. Spans: one per
// ingested batch (ingest.batch), one per batch written to a sink
// (sink.write), one per ruleset change (rules.reload); an alert carries the trace id of the batch that raised
// it. Without a call, spans cost nothing: the tracer is a no-op.
func StartTracing(ctx context.Context, endpoint string) (shutdown func(context.Context) error, err error) {
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint)}
	if u := strings.TrimRight(endpoint, "/"); !strings.HasSuffix(u, "/v1/traces") && strings.Count(u, "/") <= 2 {
		opts = append(opts, otlptracehttp.WithURLPath("/v1/traces"))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: otlp endpoint %q: %w", endpoint, err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "vigil"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	return func(ctx context.Context) error {
		otel.SetTracerProvider(prev)
		return tp.Shutdown(ctx)
	}, nil
}

func tracer() trace.Tracer { return otel.Tracer(tracerName) }

// StartBatch starts the span of one batch a source hands the engine; pass
// the context it returns to Push, so the alerts the batch raises carry
// its trace id. end records the outcome.
func StartBatch(ctx context.Context, source string, partition int, events int) (context.Context, func(error)) {
	attrs := []attribute.KeyValue{attribute.String("vigil.source", source), attribute.Int("vigil.events", events)}
	if partition >= 0 {
		attrs = append(attrs, attribute.String("vigil.partition", strconv.Itoa(partition)))
	}
	ctx, span := tracer().Start(ctx, "ingest.batch", trace.WithAttributes(attrs...), trace.WithSpanKind(trace.SpanKindConsumer))
	return ctx, endSpan(span)
}

// StartSpan starts a span named name (rules.reload, …) and returns the
// function that ends it with the outcome.
func StartSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, func(error)) {
	ctx, span := tracer().Start(ctx, name, trace.WithAttributes(attrs...))
	return ctx, endSpan(span)
}

// startSinkSpan starts the span of one sink write.
func startSinkSpan(ctx context.Context, sink string, alerts int) (context.Context, func(error)) {
	ctx, span := tracer().Start(ctx, "sink.write", trace.WithAttributes(attribute.String("vigil.sink", sink),
		attribute.Int("vigil.alerts", alerts)), trace.WithSpanKind(trace.SpanKindProducer))
	return ctx, endSpan(span)
}

func endSpan(span trace.Span) func(error) {
	return func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}
