package sources

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// The tests run kafka-go against kfake, an in-process broker that speaks
// the Kafka protocol. Every cluster seeds the topics below.
const (
	topic    = "events"
	dlqTopic = "events.dlq"
)

// base is 2026-11-20T10:04:05Z in Unix milliseconds.
const base = 1795169045000

type cluster struct {
	*kfake.Cluster
	addrs []string
}

// newCluster starts a one-broker cluster with a 3-partition input topic and
// a 1-partition dead-letter topic, closed when the test ends (after the
// sources, which are closed by cleanups registered later).
func newCluster(t *testing.T, opts ...kfake.Opt) *cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(3, topic),
		kfake.SeedTopics(1, dlqTopic),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &cluster{Cluster: c, addrs: c.ListenAddrs()}
}

// config returns a source configuration with timings short enough for
// tests.
func (c *cluster) config(t *testing.T, group string) KafkaConfig {
	return KafkaConfig{
		Brokers:           c.addrs,
		Topic:             topic,
		GroupID:           group,
		DeadLetterTopic:   dlqTopic,
		CommitInterval:    50 * time.Millisecond,
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    3 * time.Second,
		RebalanceTimeout:  3 * time.Second,
		JoinGroupBackoff:  100 * time.Millisecond,
		FetchMaxWait:      100 * time.Millisecond,
		Logger:            testLogger(t),
	}
}

// open starts a source, closed when the test ends.
func open(t *testing.T, cfg KafkaConfig) *Kafka {
	t.Helper()
	k, err := NewKafka(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := k.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return k
}

// testLogger logs warnings to the test log; VIGIL_TEST_DEBUG=1 logs
// everything, kafka-go's messages included.
func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("VIGIL_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

// msg is a record to produce to a given partition.
type msg struct {
	partition int
	key       string
	value     string
}

// produce writes msgs to topic with acks=all, in order per partition.
func (c *cluster) produce(t *testing.T, topic string, msgs ...msg) {
	t.Helper()
	transport := &kafka.Transport{}
	w := &kafka.Writer{
		Addr:  kafka.TCP(c.addrs...),
		Topic: topic,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int {
			return m.WriterData.(int)
		}),
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		BatchBytes:   4 << 20,
		Transport:    transport,
	}
	defer transport.CloseIdleConnections()
	defer w.Close()
	kms := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		kms[i] = kafka.Message{Value: []byte(m.value), WriterData: m.partition}
		if m.key != "" {
			kms[i].Key = []byte(m.key)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, kms...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// eventsFor returns n events for each partition; those with an even index
// carry an id, the others do not. Times alternate between RFC 3339 and Unix
// milliseconds.
func eventsFor(partitions, n int, from int) []msg {
	var ms []msg
	for p := range partitions {
		for i := from; i < from+n; i++ {
			ms = append(ms, msg{partition: p, key: fmt.Sprintf("card-%d", i%4), value: eventJSON(p, i)})
		}
	}
	return ms
}

// eventTime is the time of eventJSON(p, i).
func eventTime(p, i int) int64 { return base + int64(p)*100_000 + int64(i)*1000 }

func eventJSON(p, i int) string {
	ts := fmt.Sprint(eventTime(p, i))
	if i%3 == 1 {
		ts = `"` + time.UnixMilli(eventTime(p, i)).UTC().Format(time.RFC3339Nano) + `"`
	}
	if i%2 == 0 {
		return fmt.Sprintf(`{"id":"e-%d-%d","ts":%s,"amount":%d}`, p, i, ts, i)
	}
	return fmt.Sprintf(`{"ts":%s,"amount":%d}`, ts, i)
}

// readN reads until it has n records, failing the test after a timeout.
func readN(t *testing.T, k *Kafka, n int) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []Record
	for len(recs) < n {
		batch, err := k.Read(ctx)
		if err != nil {
			t.Fatalf("Read after %d of %d records: %v", len(recs), n, err)
		}
		if len(batch) == 0 || len(batch) > k.cfg.MaxBatch {
			t.Fatalf("Read returned %d records, MaxBatch %d", len(batch), k.cfg.MaxBatch)
		}
		recs = append(recs, batch...)
	}
	if len(recs) > n {
		t.Fatalf("read %d records, want %d", len(recs), n)
	}
	return recs
}

// expectNothing checks that no record arrives for a while.
func expectNothing(t *testing.T, k *Kafka) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	recs, err := k.Read(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read = %d records (%v), %v; want nothing", len(recs), positions(recs), err)
	}
}

// pump keeps calling Read, which must return no records, until cond
// holds.
func pump(t *testing.T, k *Kafka, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		recs, err := k.Read(ctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) || len(recs) > 0 {
			t.Fatalf("Read = %v, %v; want nothing", positions(recs), err)
		}
	}
}

// positions lists records as "partition/offset", sorted.
func positions(recs []Record) []string {
	var ps []string
	for _, r := range recs {
		ps = append(ps, fmt.Sprintf("%d/%d", r.Partition, r.Offset))
	}
	slices.Sort(ps)
	return ps
}

// offsetsByPartition lists the offsets read per partition, sorted.
func offsetsByPartition(recs []Record) map[int][]int64 {
	m := map[int][]int64{}
	for _, r := range recs {
		m[r.Partition] = append(m[r.Partition], r.Offset)
	}
	for _, os := range m {
		slices.Sort(os)
	}
	return m
}

func span(from, to int64) []int64 {
	var s []int64
	for o := from; o < to; o++ {
		s = append(s, o)
	}
	return s
}

// waitFor polls cond until it holds, failing the test after a timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// commits returns the group's committed offsets of the input topic, as
// the broker has them.
func (c *cluster) commits(group string) map[int]int64 {
	m := map[int]int64{}
	if g := c.GroupInfo(group); g != nil {
		for p, gc := range g.Commits[topic] {
			m[int(p)] = gc.Offset
		}
	}
	return m
}

// waitAssigned waits until the source owns n partitions.
func waitAssigned(t *testing.T, k *Kafka, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d partitions assigned", n), func() bool { return len(k.Stats().Partitions) == n })
}

// dlqRecord is a record read back from the dead-letter topic.
type dlqRecord struct {
	value   []byte
	headers map[string]string
}

// readDLQ reads n records from the dead-letter topic.
func (c *cluster) readDLQ(t *testing.T, n int) []dlqRecord {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: c.addrs, Topic: dlqTopic, Partition: 0, MaxWait: 100 * time.Millisecond, MaxBytes: 10 << 20,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []dlqRecord
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("reading the dead-letter topic after %d of %d: %v", len(out), n, err)
		}
		h := map[string]string{}
		for _, kh := range m.Headers {
			h[kh.Key] = string(kh.Value)
		}
		out = append(out, dlqRecord{value: m.Value, headers: h})
	}
	return out
}

// clock is an injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.UnixMilli(base).UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
