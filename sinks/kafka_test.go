package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"
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
// produce request's acks are added to acks (-1 = all), and what it carries
// to produces.
type kafkaCluster struct {
	*kfake.Cluster
	addr string

	mu       sync.Mutex
	acks     []int16
	produces []map[int32]int // per produce request: partition → records
}

func newKafkaCluster(t testing.TB) *kafkaCluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(testPartitions, testTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kc := &kafkaCluster{Cluster: c, addr: c.ListenAddrs()[0]}
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.ProduceRequest)
		carried := map[int32]int{}
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				var rb kmsg.RecordBatch // kafka-go sends one batch a partition
				if err := rb.ReadFrom(rp.Records); err == nil {
					carried[rp.Partition] += int(rb.NumRecords)
				}
			}
		}
		kc.mu.Lock()
		kc.acks = append(kc.acks, req.Acks)
		kc.produces = append(kc.produces, carried)
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

// producesSince returns the produce requests seen after the first n.
func (kc *kafkaCluster) producesSince(n int) []map[int32]int {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	return append([]map[int32]int(nil), kc.produces[n:]...)
}

func (kc *kafkaCluster) numProduces() int {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	return len(kc.produces)
}

func newTestKafka(t testing.TB, kc *kafkaCluster, cfg KafkaConfig) *Kafka {
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
		// The kafka-go defaults are traps: acks none, a 1 s batch timeout
		// that every synchronous write waits out, batches of 100, and
		// round-robin partitioning that ignores the key.
		if k.w.RequiredAcks != kafka.RequireAll {
			t.Errorf("RequiredAcks = %v; want RequireAll", k.w.RequiredAcks)
		}
		if k.w.BatchTimeout <= 0 || k.w.BatchTimeout > time.Microsecond {
			t.Errorf("BatchTimeout = %v; want a positive wait of at most 1µs", k.w.BatchTimeout)
		}
		if k.w.BatchSize != 1000 || k.w.BatchBytes != 1<<20 {
			t.Errorf("BatchSize, BatchBytes = %d, %d; want 1000, 1 MiB", k.w.BatchSize, k.w.BatchBytes)
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
		if err := k.WriteBatch(ctx, []cep.Alert{a}); err != nil {
			t.Fatalf("WriteBatch(%s) = %v", a.ID, err)
		}
	}
	// A batch overlapping what was written, with a duplicate inside it.
	batch := append(append([]cep.Alert{}, alerts[5:]...), alerts[12], alerts[0])
	if err := k.WriteBatch(ctx, batch); err != nil {
		t.Fatalf("WriteBatch = %v", err)
	}
	for _, a := range alerts[:3] { // and again, one at a time
		if err := k.WriteBatch(ctx, []cep.Alert{a}); err != nil {
			t.Fatalf("WriteBatch(%s) again = %v", a.ID, err)
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
	if err := k.WriteBatch(ctx, []cep.Alert{alerts[0]}); !errors.Is(err, ErrClosed) {
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
				if err := k.WriteBatch(context.Background(), []cep.Alert{a}); err != nil {
					t.Errorf("WriteBatch(%s) = %v", a.ID, err)
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
	if err := k.WriteBatch(ctx, []cep.Alert{a}); err == nil {
		t.Fatal("Write when the broker hangs up = nil; want an error")
	}
	if err := k.WriteBatch(ctx, []cep.Alert{a}); err != nil {
		t.Fatalf("Write again = %v", err)
	}
	if err := k.WriteBatch(ctx, []cep.Alert{a}); err != nil {
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
	if err := k.WriteBatch(ctx, []cep.Alert{testAlert("a1", "k")}); err == nil {
		t.Error("Write to a topic that does not exist = nil; want an error")
	}
}

// A batch goes out in one produce request per partition, in order, and
// each id once however batches repeat alerts or overlap.
func TestKafkaWriteBatch(t *testing.T) {
	kc := newKafkaCluster(t)
	k := newTestKafka(t, kc, KafkaConfig{})
	ctx := context.Background()
	alerts := testAlerts(900, 6) // a batch of 600 over 3 partitions: well over kafka-go's default BatchSize (100) each

	first := append(append([]cep.Alert{}, alerts[:600]...), alerts[3], alerts[450]) // repeats within the batch
	second := alerts[450:]                                                          // overlaps the first
	var requests [][]map[int32]int                                                  // per batch
	for _, batch := range [][]cep.Alert{first, second} {
		n := kc.numProduces()
		if err := k.WriteBatch(ctx, batch); err != nil {
			t.Fatalf("WriteBatch(%d alerts) = %v", len(batch), err)
		}
		requests = append(requests, kc.producesSince(n))
	}
	// Nothing new: no request at all.
	n := kc.numProduces()
	for _, batch := range [][]cep.Alert{nil, alerts[:10], alerts[890:]} {
		if err := k.WriteBatch(ctx, batch); err != nil {
			t.Fatalf("WriteBatch(written already) = %v", err)
		}
	}
	if got := kc.producesSince(n); len(got) != 0 {
		t.Errorf("batches written already made produce requests %v; want none", got)
	}
	closeSink(t, k)

	recs := kc.records(t)
	count := map[string]int{}
	partitionOf := map[string]int32{} // alert key → partition
	byPartition := map[int][]string{} // ids in offset order
	for _, r := range recs {
		count[r.id]++
		partitionOf[r.key] = int32(r.partition)
		byPartition[r.partition] = append(byPartition[r.partition], r.id)
	}
	for _, a := range alerts {
		if count[a.ID] != 1 {
			t.Errorf("alert %s on the topic %d times; want 1", a.ID, count[a.ID])
		}
	}
	if len(recs) != len(alerts) {
		t.Errorf("%d messages on the topic; want %d", len(recs), len(alerts))
	}
	// The ids are in the order written, so each partition holds them sorted.
	for p, ids := range byPartition {
		if !slices.IsSorted(ids) {
			t.Errorf("partition %d holds %v; want the batch order", p, ids)
		}
	}

	for i, fresh := range [][]cep.Alert{alerts[:600], alerts[600:]} {
		want := map[int32]int{} // partition → new alerts in batch i
		for _, a := range fresh {
			want[partitionOf[a.Key]]++
		}
		got := map[int32]int{}
		for _, req := range requests[i] {
			for p, n := range req {
				got[p] += n
			}
		}
		if len(requests[i]) != len(want) || !maps.Equal(got, want) {
			t.Errorf("batch %d: produce requests %v; want one a partition, carrying %v", i+1, requests[i], want)
		}
	}
}

// A batch bigger than BatchSize or BatchBytes for a partition is split
// into several produce requests, still in order.
func TestKafkaWriteBatchSplits(t *testing.T) {
	tests := []struct {
		name string
		cfg  KafkaConfig
		want []int // records per request; nil: more than one request
	}{
		{"BatchSize", KafkaConfig{BatchSize: 10}, []int{10, 10, 10, 5}},
		{"BatchBytes", KafkaConfig{BatchBytes: 4 << 10}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc := newKafkaCluster(t)
			k := newTestKafka(t, kc, tt.cfg)
			alerts := testAlerts(35, 1) // one key, so one partition
			if err := k.WriteBatch(context.Background(), alerts); err != nil {
				t.Fatalf("WriteBatch = %v", err)
			}
			closeSink(t, k)
			var sizes []int
			for _, req := range kc.producesSince(0) {
				for _, n := range req {
					sizes = append(sizes, n)
				}
			}
			if tt.want != nil && !slices.Equal(sizes, tt.want) {
				t.Errorf("records per produce request = %v; want %v", sizes, tt.want)
			}
			if tt.want == nil && (len(sizes) < 2 || sum(sizes) != len(alerts)) {
				t.Errorf("records per produce request = %v; want several, %d in all", sizes, len(alerts))
			}
			var ids []string
			for _, r := range kc.records(t) {
				ids = append(ids, r.id)
			}
			if want := idsOf(alerts); !slices.Equal(ids, want) {
				t.Errorf("topic holds %v; want %v", ids, want)
			}
		})
	}
}

func sum(ns []int) int {
	t := 0
	for _, n := range ns {
		t += n
	}
	return t
}
