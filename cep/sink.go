package cep

import "context"

// Sink receives alerts in batches: a file, a webhook, a Kafka topic, an
// alert store. Implementations live in package sinks.
type Sink interface {
	// WriteBatch writes alerts, in order. nil only once every alert is durably
	// accepted (written and flushed, committed, acknowledged by all Kafka
	// replicas, or held in a bounded retry queue that Close drains). On error
	// none or some may have been written; writing the batch again is safe
	// because sinks de-duplicate on Alert.ID. A sink that cannot keep up blocks
	// (backpressure); it never drops an alert silently.
	WriteBatch(ctx context.Context, alerts []Alert) error
	// Close flushes and releases the sink; ctx bounds how long it may take.
	Close(ctx context.Context) error
}
