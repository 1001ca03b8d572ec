package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/vigilhq/vigil/cep"
)

const (
	testTopic      = "alerts"
	testPartitions = 3
)

// kafkaCluster starts an in-process broker with the alerts topic. Every
// produce request's acks are added to acks (-1 = all).
type kafkaCluster struct {
	*kfake.Cluster
	addr string

	mu   sync.Mutex
	acks []int16
}

func newKafkaCluster(t *testing.T) *kafkaCluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(testPartitions, testTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kc := &kafkaCluster{Cluster: c, addr: c.ListenAddrs()[0]}
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.mu.Lock()
		kc.acks = append(kc.acks, req.(*kmsg.ProduceRequest).Acks)
		kc.mu.Unlock()
		return nil, nil, false // observe only: the broker handles it
	})
	return kc
}

// record is one message read back from the topic.
type record struct {
	partition int
	key, id   string
	alert     cep.Alert
	value     []byte
}

// records reads every message on the topic.
func (kc *kafkaCluster) records(t *testing.T) []record {
	t.Helper()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(kc.addr), Transport: transport, Timeout: 5 * time.Second}
	var out []record
	for p := range testPartitions {
		res, err := client.Fetch(context.Background(), &kafka.FetchRequest{
			Topic: testTopic, Partition: p, Offset: 0, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 10 * time.Millisecond,
		})
		if err != nil {
			t.Fatalf("fetch partition %d: %v", p, err)
		}
		if res.Error != nil {
			t.Fatalf("fetch partition %d: %v", p, res.Error)
		}
		for {
			r, err := res.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("read partition %d: %v", p, err)
			}
			key, _ := protocol.ReadAll(r.Key)
			value, _ := protocol.ReadAll(r.Value)
			rec := record{partition: p, key: string(key), value: value}
			for _, h := range r.Headers {
				if h.Key == "alert-id" {
					rec.id = string(h.Value)
				}
			}
			if err := json.Unmarshal(value, &rec.alert); err != nil {
				t.Fatalf("message value %q is not an alert: %v", value, err)
			}
			out = append(out, rec)
		}
	}
	return out
}

func newTestKafka(t *testing.T, kc *kafkaCluster, cfg KafkaConfig) *Kafka {
	t.Helper()
	cfg.Brokers, cfg.Topic = []string{kc.addr}, testTopic
	k, err := NewKafka(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close(context.Background()) })
	return k
}

func TestNewKafka(t *testing.T) {
	tests := []struct {
		name string
		cfg  KafkaConfig
		ok   bool
	}{
		{"no brokers", KafkaConfig{Topic: "alerts"}, false},
		{"no topic", KafkaConfig{Brokers: []string{"localhost:9092"}}, false},
		{"ok", KafkaConfig{Brokers: []string{"localhost:9092"}, Topic: "alerts"}, true},
	}
	for _, tt := range tests {
		k, err := NewKafka(tt.cfg)
		if (err == nil) != tt.ok {
			t.Errorf("NewKafka(%s) error = %v; want error: %v", tt.name, err, !tt.ok)
		}
		if err != nil {
			continue
		}
		// The kafka-go defaults are traps: acks none, a 1 s batch timeout,
		// and round-robin partitioning that ignores the key.
		if k.w.RequiredAcks != kafka.RequireAll {
			t.Errorf("RequiredAcks = %v; want RequireAll", k.w.RequiredAcks)
		}
		if k.w.BatchTimeout != 10*time.Millisecond {
			t.Errorf("BatchTimeout = %v; want 10ms", k.w.BatchTimeout)
		}
		if k.w.Async {
			t.Error("Async = true; want synchronous writes")
		}
		if _, ok := k.w.Balancer.(*kafka.Murmur2Balancer); !ok {
			t.Errorf("Balancer = %T; want *kafka.Murmur2Balancer", k.w.Balancer)
		}
		k.Close(context.Background())
	}
}

func TestKafkaWrite(t *testing.T) {
	kc := newKafkaCluster(t)
	k := newTestKafka(t, kc, KafkaConfig{})
	ctx := context.Background()
	alerts := testAlerts(30, 4)
	for _, a := range alerts[:10] {
		if err := k.Write(ctx, a); err != nil {
			t.Fatalf("Write(%s) = %v", a.ID, err)
		}
	}
	// A batch overlapping what was written, with a duplicate inside it.
	batch := append(append([]cep.Alert{}, alerts[5:]...), alerts[12], alerts[0])
	if err := k.WriteBatch(ctx, batch); err != nil {
		t.Fatalf("WriteBatch = %v", err)
	}
	for _, a := range alerts[:3] { // and again, one at a time
		if err := k.Write(ctx, a); err != nil {
			t.Fatalf("Write(%s) again = %v", a.ID, err)
		}
	}
	closeSink(t, k)

	recs := kc.records(t)
	count := map[string]int{}
	partitionOf := map[string]int{}
	for _, r := range recs {
		count[r.id]++
		if r.alert.ID != r.id {
			t.Errorf("alert-id header %q, value's id %q; want equal", r.id, r.alert.ID)
		}
		if r.key != r.alert.Key {
			t.Errorf("message key %q for alert %s; want the alert key %q", r.key, r.id, r.alert.Key)
		}
		want, _ := json.Marshal(alerts[indexOf(alerts, r.id)])
		if string(r.value) != string(want) {
			t.Errorf("message value = %s; want %s", r.value, want)
		}
		if p, ok := partitionOf[r.key]; ok && p != r.partition {
			t.Errorf("key %s on partitions %d and %d; want one", r.key, p, r.partition)
		}
		partitionOf[r.key] = r.partition
	}
	for _, a := range alerts {
		if count[a.ID] != 1 {
			t.Errorf("alert %s on the topic %d times; want 1", a.ID, count[a.ID])
		}
	}
	if len(recs) != len(alerts) {
		t.Errorf("%d messages on the topic; want %d", len(recs), len(alerts))
	}

	kc.mu.Lock()
	defer kc.mu.Unlock()
	if len(kc.acks) == 0 {
		t.Fatal("broker saw no produce requests")
	}
	for _, a := range kc.acks {
		if a != -1 {
			t.Errorf("produce request with acks=%d; want -1 (all)", a)
		}
	}
	if err := k.Write(ctx, alerts[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v; want ErrClosed", err)
	}
}

func indexOf(alerts []cep.Alert, id string) int {
	for i, a := range alerts {
		if a.ID == id {
			return i
		}
	}
	return -1
}

// Concurrent writers of the same alerts produce each id once.
func TestKafkaConcurrentDedupe(t *testing.T) {
	kc := newKafkaCluster(t)
	k := newTestKafka(t, kc, KafkaConfig{})
	alerts := testAlerts(40, 6)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			if g%2 == 0 {
				if err := k.WriteBatch(context.Background(), alerts[g:]); err != nil {
					t.Errorf("WriteBatch = %v", err)
				}
				return
			}
			for i := range alerts {
				a := alerts[(i+g*5)%len(alerts)]
				if err := k.Write(context.Background(), a); err != nil {
					t.Errorf("Write(%s) = %v", a.ID, err)
				}
			}
		})
	}
	wg.Wait()
	closeSink(t, k)
	count := map[string]int{}
	for _, r := range kc.records(t) {
		count[r.id]++
	}
	for _, a := range alerts {
		if count[a.ID] != 1 {
			t.Errorf("alert %s on the topic %d times; want 1", a.ID, count[a.ID])
		}
	}
}

// A failed write is not recorded as written: writing the alert again
// produces it.
func TestKafkaFailedWriteIsRetried(t *testing.T) {
	kc := newKafkaCluster(t)
	var dropped atomic.Bool
	kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if dropped.CompareAndSwap(false, true) {
			return nil, errors.New("broker hangs up"), true // closes the connection
		}
		return nil, nil, false
	})
	k := newTestKafka(t, kc, KafkaConfig{MaxAttempts: 1})
	a := testAlert("a1", "card-1")
	ctx := context.Background()
	if err := k.Write(ctx, a); err == nil {
		t.Fatal("Write when the broker hangs up = nil; want an error")
	}
	if err := k.Write(ctx, a); err != nil {
		t.Fatalf("Write again = %v", err)
	}
	if err := k.Write(ctx, a); err != nil {
		t.Fatalf("Write a third time = %v", err)
	}
	closeSink(t, k)
	recs := kc.records(t)
	if len(recs) != 1 || recs[0].id != "a1" {
		t.Errorf("topic holds %+v; want a1 once", recs)
	}
}

func TestKafkaUnknownTopic(t *testing.T) {
	kc := newKafkaCluster(t)
	k, err := NewKafka(KafkaConfig{Brokers: []string{kc.addr}, Topic: "no-such-topic"})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := k.Write(ctx, testAlert("a1", "k")); err == nil {
		t.Error("Write to a topic that does not exist = nil; want an error")
	}
}
