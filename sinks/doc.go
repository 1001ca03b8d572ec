// Package sinks holds the places alerts go: an NDJSON file
// or stdout ([File]), an HTTP webhook ([Webhook]), a Kafka topic ([Kafka]),
// and [Fanout], which sends each alert to history sinks and, unless it is
// a shadow or suppressed alert, to action sinks.
//
// Every sink implements [cep.Sink]: WriteBatch writes a batch of alerts in
// order, returns nil only once all of them are durably accepted, blocks
// when the sink cannot keep up, and writing the same alert id twice (in one
// batch or in two) delivers it once.
package sinks

import "errors"

// ErrClosed is returned by WriteBatch after Close.
var ErrClosed = errors.New("sinks: sink closed")
