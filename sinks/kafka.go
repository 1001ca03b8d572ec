package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilhq/vigil/cep"
)

var _ cep.Sink = (*Kafka)(nil)

// KafkaConfig configures a Kafka sink. Zero fields take the defaults given.
type KafkaConfig struct {
	// Brokers are the bootstrap addresses, host:port. Required.
	Brokers []string
	// Topic receives the alerts; it must exist. Required.
	Topic string
	// BatchTimeout is how long a Write may wait for other Writes to share
	// its produce request. Default 10ms (kafka-go's default, 1s, would
	// make every synchronous Write take a second).
	BatchTimeout time.Duration
	// BatchSize is the most messages in one produce request. Default 100.
	BatchSize int
	// BatchBytes is the largest produce request, and so the largest alert.
	// Default 1 MiB, which matches the brokers' default message.max.bytes.
	BatchBytes int64
	// WriteTimeout bounds one produce request. Default 10s.
	WriteTimeout time.Duration
	// MaxAttempts is how many times kafka-go tries a produce request
	// before Write fails. Default 10.
	MaxAttempts int
	// DedupeSize is how many written ids are remembered. Default
	// DefaultDedupeSize.
	DedupeSize int
	// Transport connects to the brokers (set it for TLS or SASL). Default:
	// a transport of the sink's own, whose connections Close closes.
	Transport kafka.RoundTripper
}

// Kafka writes each alert as one message: key = alert key, value = the
// alert's JSON, header "alert-id" = its id. Messages are partitioned by key
// with murmur2, as Java producers do, so one key's alerts stay in order.
//
// Write is synchronous: it returns once every in-sync replica has the
// message (acks=all). Concurrent Writes share produce requests. An id
// written recently, or being written by a concurrent Write, is not
// produced again.
type Kafka struct {
	w         *kafka.Writer
	transport *kafka.Transport // ours, if cfg.Transport was nil
	ids       *dedupe

	mu     sync.RWMutex // held for reading by writes, for writing by Close
	closed bool
}

// NewKafka checks cfg and returns a sink. It does not connect until the
// first Write.
func NewKafka(cfg KafkaConfig) (*Kafka, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka sink: no brokers")
	}
	if cfg.Topic == "" {
		return nil, errors.New("kafka sink: no topic")
	}
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = 10 * time.Millisecond
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 1 << 20
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	k := &Kafka{ids: newDedupe(cfg.DedupeSize)}
	transport := cfg.Transport
	if transport == nil {
		k.transport = &kafka.Transport{}
		transport = k.transport
	}
	k.w = &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Topic:        cfg.Topic,
		Balancer:     &kafka.Murmur2Balancer{}, // the default, round robin, ignores keys
		RequiredAcks: kafka.RequireAll,         // the default is RequireNone
		BatchTimeout: cfg.BatchTimeout,
		BatchSize:    cfg.BatchSize,
		BatchBytes:   cfg.BatchBytes,
		WriteTimeout: cfg.WriteTimeout,
		MaxAttempts:  cfg.MaxAttempts,
		Transport:    transport,
	}
	return k, nil
}

// Write produces a and waits for acks from all in-sync replicas.
func (k *Kafka) Write(ctx context.Context, a cep.Alert) error {
	return k.WriteBatch(ctx, []cep.Alert{a})
}

// WriteBatch produces alerts in one request per partition and waits for
// acks from all in-sync replicas. Ids written already are skipped. If it
// returns an error, the alerts that did get written are still recorded,
// so writing the batch again produces only the rest.
//
// If ctx ends while the request is under way, WriteBatch returns ctx's
// error, but the messages may still reach the topic; consumers
// de-duplicate on the alert-id header.
func (k *Kafka) WriteBatch(ctx context.Context, alerts []cep.Alert) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.closed {
		return ErrClosed
	}

	todo := alerts
	for len(todo) > 0 {
		// Claim every id we can without waiting. Ids another Write is
		// producing now are waited for after ours are done (waiting while
		// holding claims could deadlock two batches), then tried again:
		// if that Write failed, we produce them.
		var mine []cep.Alert
		var waits []<-chan struct{}
		var retry []cep.Alert
		inBatch := make(map[string]bool, len(todo))
		for _, a := range todo {
			if a.ID != "" {
				if inBatch[a.ID] {
					continue
				}
				inBatch[a.ID] = true
			}
			switch st, ch := k.ids.tryClaim(a.ID); st {
			case claimed:
				mine = append(mine, a)
			case busy:
				waits = append(waits, ch)
				retry = append(retry, a)
			}
		}
		if err := k.produce(ctx, mine); err != nil {
			return err
		}
		for _, ch := range waits {
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		todo = retry
	}
	return nil
}

// produce writes claimed alerts and releases their claims.
func (k *Kafka) produce(ctx context.Context, alerts []cep.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(alerts))
	for i, a := range alerts {
		value, err := json.Marshal(a)
		if err != nil {
			for _, a := range alerts {
				k.ids.end(a.ID, false)
			}
			return fmt.Errorf("kafka sink: encode alert %s: %w", a.ID, err)
		}
		msgs[i] = kafka.Message{
			Key:     []byte(a.Key),
			Value:   value,
			Headers: []kafka.Header{{Key: "alert-id", Value: []byte(a.ID)}},
		}
	}
	err := k.w.WriteMessages(ctx, msgs...)
	var werrs kafka.WriteErrors
	partial := errors.As(err, &werrs) && len(werrs) == len(alerts)
	for i, a := range alerts {
		k.ids.end(a.ID, err == nil || (partial && werrs[i] == nil))
	}
	if err != nil {
		return fmt.Errorf("kafka sink: write %d alerts: %w", len(alerts), err)
	}
	return nil
}

// Close waits for Writes under way, then closes the writer and its
// connections. Later Writes return ErrClosed. If ctx ends first, Close
// returns its error and the closing finishes in the background.
func (k *Kafka) Close(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.closed {
			done <- nil
			return
		}
		k.closed = true
		err := k.w.Close()
		if k.transport != nil {
			k.transport.CloseIdleConnections()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("kafka sink: close: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kafka sink: close: %w", ctx.Err())
	}
}
