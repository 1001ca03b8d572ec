package sources

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Headers of a dead-letter record. Its key and value are the source
// record's; the source record's own headers are not copied.
const (
	HeaderReason          = "reason"           // event.Reason* or the reason passed to DeadLetter
	HeaderError           = "error"            // the error's text
	HeaderSourceTopic     = "source_topic"     // where the record came from
	HeaderSourcePartition = "source_partition" // decimal
	HeaderSourceOffset    = "source_offset"    // decimal
	HeaderTruncated       = "truncated"        // the value's original size in bytes, when cut
)

// DeadLetterMaxValue is the most of a record's value a dead-letter record
// keeps. A longer value (an event over the size limit may be long) is cut to
// it and the record carries HeaderTruncated: it must fit Kafka's default
// message size, or it could never be written and its partition would stall.
const DeadLetterMaxValue = 1_000_000

type deadLetter struct {
	rec    Record
	reason string
	cause  error
}

func (d deadLetter) message() kafka.Message {
	r := d.rec
	var text string
	if d.cause != nil {
		text = d.cause.Error()
	}
	m := kafka.Message{
		Key:   r.Key,
		Value: r.Raw,
		Headers: []kafka.Header{
			{Key: HeaderReason, Value: []byte(d.reason)},
			{Key: HeaderError, Value: []byte(text)},
			{Key: HeaderSourceTopic, Value: []byte(r.Topic)},
			{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(r.Partition))},
			{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		},
	}
	if len(m.Value) > DeadLetterMaxValue {
		m.Value = m.Value[:DeadLetterMaxValue]
		m.Headers = append(m.Headers, kafka.Header{Key: HeaderTruncated, Value: []byte(strconv.Itoa(len(r.Raw)))})
	}
	return m
}

// DeadLetter writes r to the dead-letter topic with its reason, the cause's
// text and its source position in headers, waits for every in-sync replica
// to have it (acks=all), and then marks r done. The engine uses it for
// events it rejects itself, such as late ones (event.ReasonLate). On error r
// is not done; the caller may retry.
func (k *Kafka) DeadLetter(ctx context.Context, r Record, reason string, cause error) error {
	d := deadLetter{rec: r, reason: reason, cause: cause}
	if err := k.writer.WriteMessages(ctx, d.message()); err != nil {
		return fmt.Errorf("kafka source: dead-letter %s to %q: %w",
			position(r.Topic, r.Partition, r.Offset), k.cfg.DeadLetterTopic, err)
	}
	k.deadLettered(d)
	return nil
}

func (k *Kafka) deadLettered(d deadLetter) {
	k.log.Debug("dead-lettered", "partition", d.rec.Partition, "offset", d.rec.Offset, "reason", d.reason)
	k.mu.Lock()
	k.dlq[d.reason]++
	k.mu.Unlock()
	k.Done(d.rec)
}

// flushDeadLetters writes the records Read could not decode, in one batch,
// and marks the written ones done. The ones that failed stay queued for the
// next call. After a failure, the next attempt waits for a backoff (100ms
// doubling up to 5s), so that a caller retrying Read at once does not spin;
// with wait false, a call within the backoff does nothing. The caller holds
// readMu.
func (k *Kafka) flushDeadLetters(ctx context.Context, wait bool) error {
	if len(k.deadLetters) == 0 {
		return nil
	}
	if d := time.Until(k.dlqRetryAt); d > 0 {
		if !wait {
			return nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-k.closing:
			return ErrClosed
		}
	}
	msgs := make([]kafka.Message, len(k.deadLetters))
	for i, d := range k.deadLetters {
		msgs[i] = d.message()
	}
	err := k.writer.WriteMessages(ctx, msgs...)
	// On a WriteErrors, each message has its own outcome. On any other
	// error nothing is known to be written and all are retried: the
	// dead-letter topic may get duplicates, never gaps.
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) || len(werrs) != len(msgs) {
		werrs = nil
	}
	var failed []deadLetter
	for i, d := range k.deadLetters {
		if err == nil || werrs != nil && werrs[i] == nil {
			k.deadLettered(d)
		} else {
			failed = append(failed, d)
		}
	}
	k.deadLetters = append([]deadLetter(nil), failed...)
	k.mu.Lock()
	k.dlqPending = len(k.deadLetters)
	k.mu.Unlock()
	if err != nil {
		k.dlqFailures++
		k.dlqRetryAt = time.Now().Add(min(100*time.Millisecond<<min(k.dlqFailures-1, 6), 5*time.Second))
		err = fmt.Errorf("kafka source: dead-letter %d records to %q: %w", len(failed), k.cfg.DeadLetterTopic, err)
		k.mu.Lock()
		k.dlqErr = err
		k.mu.Unlock()
		return err
	}
	k.dlqFailures, k.dlqRetryAt = 0, time.Time{}
	k.mu.Lock()
	k.dlqErr = nil
	k.mu.Unlock()
	return nil
}
