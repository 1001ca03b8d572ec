package sinks

import (
	"context"
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
	// BatchTimeout is how long the writer holds a produce request that is
	// not full open for other WriteBatch calls to join. Default 1ns: in
	// effect none, since WriteBatch hands the writer all its messages in
	// one call and there is nothing to wait for, so a call costs one round
	// trip. (kafka-go takes 0 to mean 1s, which would make every WriteBatch
	// take a second; a longer linger only pays when many callers write
	// small batches at once.)
	BatchTimeout time.Duration
	// BatchSize is the most messages in one produce request; a WriteBatch
	// with more for one partition is split into several requests. Default
	// 1000. kafka-go allocates room for BatchSize messages (152 bytes
	// each) for every request, however few it carries, so this should be
	// about the largest batch written, not much more.
	BatchSize int
	// BatchBytes is the largest produce request, and so the largest alert;
	// a WriteBatch with more for one partition is split. Default 1 MiB,
	// which matches the brokers' default message.max.bytes.
	BatchBytes int64
	// WriteTimeout bounds one produce request. Default 10s.
	WriteTimeout time.Duration
	// MaxAttempts is how many times kafka-go tries a produce request
	// before WriteBatch fails. Default 10.
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
// WriteBatch is synchronous: it hands the whole batch to the writer in one
// call, which sends one produce request per partition (concurrently, so
// one round trip), split only past BatchSize or BatchBytes, and returns
// once every in-sync replica has the messages (acks=all). An id written
// recently, or being written by a concurrent WriteBatch, is not produced
// again.
type Kafka struct {
	w         *kafka.Writer
	transport *kafka.Transport // ours, if cfg.Transport was nil
	ids       *dedupe

	mu     sync.RWMutex // held for reading by writes, for writing by Close
	closed bool
}

// NewKafka checks cfg and returns a sink. It does not connect until the
// first WriteBatch.
func NewKafka(cfg KafkaConfig) (*Kafka, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka sink: no brokers")
	}
	if cfg.Topic == "" {
		return nil, errors.New("kafka sink: no topic")
	}
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = time.Nanosecond
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
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

// WriteBatch produces alerts, in order, with one WriteMessages call (one
// produce request per partition) and waits for acks from all in-sync
// replicas. Ids written already, or repeated within the batch, are
// skipped. If it returns an error, the alerts that did get written are
// still recorded, so writing the batch again produces only the rest.
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
		// Claim every id we can without waiting. Ids another WriteBatch is
		// producing now are waited for after ours are done (waiting while
		// holding claims could deadlock two batches), then tried again:
		// if that call failed, we produce them.
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
		// The bytes json.Marshal(a) returns, without its second pass over them.
		value, err := a.MarshalJSON()
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

// Close waits for WriteBatch calls under way, then closes the writer and
// its connections. Later calls return ErrClosed. If ctx ends first, Close
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
