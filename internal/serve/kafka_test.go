package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vigilhq/vigil/cep"
)

// broker is an in-process Kafka (kfake) with the topics a service uses.
type broker struct {
	*kfake.Cluster
	addrs []string
}

func newBroker(t *testing.T) *broker {
	t.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(3, "events"),
		kfake.SeedTopics(1, "events.dead-letter", "alerts"),
		kfake.GroupMinSessionTimeout(100*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &broker{Cluster: c, addrs: c.ListenAddrs()}
}

// kafkaSource is the source config with timings short enough for tests.
func (b *broker) kafkaSource() *KafkaSource {
	return &KafkaSource{Brokers: b.addrs, Topic: "events", GroupID: "vigil-test", DeadLetterTopic: "events.dead-letter",
		CommitInterval: Duration(50 * time.Millisecond), HeartbeatInterval: Duration(100 * time.Millisecond),
		SessionTimeout: Duration(2 * time.Second), RebalanceTimeout: Duration(2 * time.Second),
		JoinGroupBackoff: Duration(100 * time.Millisecond), FetchMaxWait: Duration(100 * time.Millisecond)}
}

// produce writes values keyed by card, so a card's events share a partition.
func (b *broker) produce(t *testing.T, topic string, keyed ...[2]string) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(b.addrs...), Topic: topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	msgs := make([]kafka.Message, len(keyed))
	for i, kv := range keyed {
		msgs[i] = kafka.Message{Key: []byte(kv[0]), Value: []byte(kv[1])}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// consume reads n messages from a one-partition topic.
func (b *broker) consume(t *testing.T, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.addrs, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("reading %s after %d of %d messages: %v", topic, len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

// flakyReceiver is a webhook endpoint that fails its first requests, then
// records every alert it accepts.
type flakyReceiver struct {
	mu       sync.Mutex
	failLeft int
	failed   int
	got      map[string]int // alert id → times accepted
}

func (f *flakyReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failLeft > 0 {
		f.failLeft--
		f.failed++
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	var a cep.Alert
	if err := json.Unmarshal(body, &a); err != nil || a.ID != r.Header.Get("Idempotency-Key") {
		http.Error(w, "bad alert", http.StatusBadRequest)
		return
	}
	f.got[a.ID]++
}

func (f *flakyReceiver) accepted() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.got {
		out[k] = v
	}
	return out
}

func TestKafkaEndToEnd(t *testing.T) {
	b := newBroker(t)
	recv := &flakyReceiver{failLeft: 6, got: map[string]int{}}
	hook := httptest.NewServer(recv)
	defer hook.Close()

	cfg := testConfig(t, velocityRules+`  - name: velocity-shadow
    key: card
    mode: shadow
    threshold:
      window: 10m
      condition: count() >= 3
`)
	cfg.Kafka = b.kafkaSource()
	cfg.Sinks.Kafka = &KafkaAlertOut{Brokers: b.addrs, Topic: "alerts"}
	cfg.Sinks.Webhook = &WebhookSink{URL: hook.URL, MinBackoff: Duration(5 * time.Millisecond), MaxBackoff: Duration(20 * time.Millisecond)}
	r := start(t, cfg)

	var msgs [][2]string
	cards := []string{"c1", "c2", "c3", "c4"}
	for i := 0; i < 3; i++ {
		for _, card := range cards {
			msgs = append(msgs, [2]string{card, ev(fmt.Sprintf("%s-%d", card, i), t0+int64(i)*1000, card, "declined")})
		}
	}
	msgs = append(msgs, [2]string{"c1", "not json at all"}, [2]string{"c2", `{"card":"c2","status":"declined"}`})
	b.produce(t, "events", msgs...)

	// Live alerts reach the alerts topic, keyed by card; shadow ones do not.
	out := b.consume(t, "alerts", 4)
	var keys []string
	for _, m := range out {
		var a cep.Alert
		if err := json.Unmarshal(m.Value, &a); err != nil {
			t.Fatal(err)
		}
		if a.Rule != "velocity" || string(m.Key) != a.Key {
			t.Errorf("alerts topic: rule %s key %q for alert key %q", a.Rule, m.Key, a.Key)
		}
		keys = append(keys, a.Key)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "c1,c2,c3,c4" {
		t.Errorf("alerts topic keys = %v", keys)
	}
	// The API has all eight: four live, four shadow.
	eventually(t, 10*time.Second, "8 alerts in the API", func() bool { return len(r.alerts(t, "")) == 8 })
	if n := len(r.alerts(t, "shadow=true")); n != 4 {
		t.Errorf("shadow alerts in the API = %d; want 4", n)
	}
	// Malformed messages are in the dead-letter topic, with the reason.
	dead := b.consume(t, "events.dead-letter", 2)
	var reasons []string
	for _, m := range dead {
		for _, h := range m.Headers {
			if h.Key == "reason" {
				reasons = append(reasons, string(h.Value))
			}
		}
	}
	sort.Strings(reasons)
	if strings.Join(reasons, ",") != "malformed,no_time" {
		t.Errorf("dead-letter reasons = %v", reasons)
	}
	// The webhook failed for a while; afterwards it holds every live alert
	// exactly once.
	eventually(t, 10*time.Second, "4 alerts at the webhook", func() bool { return len(recv.accepted()) == 4 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	for id, n := range recv.accepted() {
		if n != 1 {
			t.Errorf("webhook got alert %s %d times; want once", id, n)
		}
	}
	if recv.failed != 6 {
		t.Errorf("receiver failed %d requests; want 6", recv.failed)
	}
}

// TestDeadLetterOutageDoesNotStopTheService: a bad record that cannot be
// parked (its dead-letter topic is missing) holds back only itself; the
// service keeps running, keeps processing good events, and says what is
// wrong in /readyz.
func TestDeadLetterOutageDoesNotStopTheService(t *testing.T) {
	b := newBroker(t)
	cfg := testConfig(t, velocityRules)
	cfg.Kafka = b.kafkaSource()
	cfg.Kafka.DeadLetterTopic = "missing.dead-letter"
	r := start(t, cfg)
	msgs := [][2]string{{"c1", "not json"}}
	for i := 0; i < 3; i++ {
		msgs = append(msgs, [2]string{"c1", ev(fmt.Sprintf("c1-%d", i), t0+int64(i)*1000, "c1", "declined")})
	}
	b.produce(t, "events", msgs...)
	eventually(t, 15*time.Second, "the good events' alert", func() bool { return len(r.alerts(t, "")) == 1 })
	eventually(t, 15*time.Second, "readyz to report the failing source", func() bool {
		resp, err := http.Get(r.url + "/readyz")
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "kafka source is failing")
	})
	if err := r.stop(); err != nil {
		t.Errorf("the service stopped with %v; want a clean stop after the outage", err)
	}
}

// TestGoodRecordsFlowWhileABadOneWaitsForTheDeadLetterTopic: the bad
// record is read alone, before the good ones exist; the dead-letter topic
// is down. The good records still raise their alert, and /readyz names
// the outage meanwhile.
func TestGoodRecordsFlowWhileABadOneWaitsForTheDeadLetterTopic(t *testing.T) {
	b := newBroker(t)
	cfg := testConfig(t, velocityRules)
	cfg.Kafka = b.kafkaSource()
	cfg.Kafka.DeadLetterTopic = "missing.dead-letter"
	r := start(t, cfg)
	b.produce(t, "events", [2]string{"c1", "not json"})
	eventually(t, 15*time.Second, "the dead-letter failure in /readyz", func() bool {
		resp, err := http.Get(r.url + "/readyz")
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "dead-letter")
	})
	var msgs [][2]string
	for i := 0; i < 3; i++ {
		msgs = append(msgs, [2]string{"c1", ev(fmt.Sprintf("c1-%d", i), t0+int64(i)*1000, "c1", "declined")})
	}
	b.produce(t, "events", msgs...)
	eventually(t, 15*time.Second, "the good events' alert", func() bool { return len(r.alerts(t, "")) == 1 })
}
