package cep

import "context"

// Sink receives alerts: a file, a webhook, a Kafka topic, an alert store.
// Implementations live in package sinks.
//
// Write returns nil only once the alert is durably accepted — written and
// flushed, committed, acknowledged by all Kafka replicas, or held in a
// bounded retry queue that Close drains — so that a source may commit the
// offsets of the events that raised it. When a sink cannot keep up, Write
// blocks (backpressure); it never drops an alert silently. Sinks
// de-duplicate on Alert.ID: writing the same alert twice delivers it once.
type Sink interface {
	Write(ctx context.Context, a Alert) error
	// Close flushes and releases the sink; ctx bounds how long it may take.
	Close(ctx context.Context) error
}
