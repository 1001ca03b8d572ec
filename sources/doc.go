// Package sources holds vigil's event sources: each reads raw records from
// one system, decodes them into events (package event) and reports which of
// them are finished, so the source can acknowledge them upstream.
//
// The Kafka source (Kafka) consumes a topic as a member of a consumer group,
// dead-letters input it cannot decode, tracks a watermark per partition and
// commits offsets only once the engine reports the records done
// (at-least-once).
package sources
