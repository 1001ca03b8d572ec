package gen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/segmentio/kafka-go"
)

// Sink takes batches of events.
type Sink interface {
	Write(ctx context.Context, lines []Line) error
	Close() error
}

// Line is one event: its NDJSON line and its key (the card, else the
// account) for a Kafka message key.
type Line struct {
	Key  string
	Data []byte
}

// Limits say when a stream ends and how fast it goes.
type Limits struct {
	Count    int           // events; 0: no limit
	Duration time.Duration // of event time from the start; 0: no limit
	// Rate is events per second of wall time; 0: as fast as possible.
	Rate  float64
	Batch int // events per write (default 500, or Rate/10 when paced)
}

// Stream writes g's events to sink until a limit is reached or ctx ends.
func Stream(ctx context.Context, g *Generator, sink Sink, lim Limits) error {
	if lim.Count <= 0 && lim.Duration <= 0 {
		return errors.New("gen: give a count or a duration")
	}
	if lim.Batch <= 0 {
		lim.Batch = 500
		if lim.Rate > 0 {
			lim.Batch = max(1, min(500, int(lim.Rate/10)))
		}
	}
	end := g.opts.Start.Add(lim.Duration).UnixMilli()
	start := time.Now()
	batch := make([]Line, 0, lim.Batch)
	sent := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		stop := lim.Count > 0 && sent+len(batch) >= lim.Count
		if !stop {
			e := g.Next()
			if lim.Duration > 0 && e.TimeMs() >= end {
				stop = true
			} else {
				key := e.CardID
				if key == "" {
					key = e.AccountID
				}
				batch = append(batch, Line{Key: key, Data: e.MarshalLine()})
			}
		}
		if len(batch) == lim.Batch || stop && len(batch) > 0 {
			if lim.Rate > 0 {
				due := start.Add(time.Duration(float64(sent+len(batch)) / lim.Rate * float64(time.Second)))
				if d := time.Until(due); d > 0 {
					t := time.NewTimer(d)
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
						return ctx.Err()
					}
				}
			}
			if err := sink.Write(ctx, batch); err != nil {
				return err
			}
			sent += len(batch)
			batch = batch[:0]
		}
		if stop {
			return nil
		}
	}
}

// WriterSink writes lines to w (a file, stdout).
type WriterSink struct{ W io.Writer }

func (s WriterSink) Write(_ context.Context, lines []Line) error {
	for _, l := range lines {
		if _, err := s.W.Write(l.Data); err != nil {
			return err
		}
	}
	return nil
}

func (s WriterSink) Close() error { return nil }

// HTTPSink POSTs each batch as NDJSON to a vigil's /v1/events, sending a
// batch again while the service answers 503 (backpressure).
type HTTPSink struct {
	URL    string
	Token  string // bearer token (scope ingest), when the service wants one
	Client *http.Client
}

func (s HTTPSink) Write(ctx context.Context, lines []Line) error {
	var body []byte
	for _, l := range lines {
		body = append(body, l.Data...)
	}
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 60 * time.Second}
	}
	wait := 100 * time.Millisecond
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		if s.Token != "" {
			req.Header.Set("Authorization", "Bearer "+s.Token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			return nil
		case resp.StatusCode == http.StatusServiceUnavailable:
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
			wait = min(2*wait, 5*time.Second)
		default:
			return fmt.Errorf("POST %s: %s: %s", s.URL, resp.Status, bytes.TrimSpace(msg))
		}
	}
}

func (s HTTPSink) Close() error { return nil }

// KafkaSink produces each event to a topic (acks=all), keyed by its card
// (else its account), so a card's events share a partition.
type KafkaSink struct{ w *kafka.Writer }

// NewKafkaSink writes to topic on brokers.
func NewKafkaSink(brokers []string, topic string) *KafkaSink {
	return &KafkaSink{w: &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond, Balancer: &kafka.Hash{}}}
}

func (s *KafkaSink) Write(ctx context.Context, lines []Line) error {
	msgs := make([]kafka.Message, len(lines))
	for i, l := range lines {
		msgs[i] = kafka.Message{Key: []byte(l.Key), Value: bytes.TrimSuffix(l.Data, []byte("\n"))}
	}
	return s.w.WriteMessages(ctx, msgs...)
}

func (s *KafkaSink) Close() error { return s.w.Close() }
