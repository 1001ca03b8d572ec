package serve

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"context"
	"encoding/json"

	"github.com/segmentio/kafka-go"

	"github.com/vigilhq/vigil/cep"
)

// recoveryRules: sequences, a threshold and an absence keyed by the
// topic's key (their state lives in the partitions), and a threshold keyed
// by merchant (served through the exchange).
const recoveryRules = `rules:
  - name: probe-then-large
    key: card
    pattern:
      - begin: small
        where: amount < 5
      - followed_by: large
        where: amount > 500
    within: 10m
  - name: declines
    key: card
    threshold:
      where: status == "declined"
      window: 10m
      condition: count() >= 3
  - name: not-captured
    key: card
    pattern:
      - begin: auth
        where: type == "auth" && amount > 300
      - not_followed_by: capture
        where: type == "capture"
    within: 3m
  - name: busy-merchant
    key: merchant
    threshold:
      window: 5m
      condition: count() >= 12
`

// recoveryStream is 20,000 events over 40 cards and 6 merchants, 0.36 s
// apart in event time (two hours in all): sequences and absences span
// many checkpoints.
func recoveryStream() [][2]string {
	rng := rand.New(rand.NewPCG(7, 11))
	var msgs [][2]string
	for i := 0; i < 20000; i++ {
		card := fmt.Sprintf("c%d", rng.IntN(40))
		typ, status, amount := "auth", "approved", float64(10+rng.IntN(100))
		switch r := rng.IntN(10); {
		case r < 2:
			amount = 1
		case r < 4:
			status = "declined"
		case r < 5:
			amount = float64(501 + rng.IntN(500))
		case r < 7:
			typ = "capture"
		}
		ev := fmt.Sprintf(`{"id":"e%d","ts":%d,"type":%q,"card":%q,"merchant":"m%d","amount":%g,"status":%q}`,
			i, t0+int64(i)*360, typ, card, rng.IntN(6), amount, status)
		msgs = append(msgs, [2]string{card, ev})
	}
	return msgs
}

// TestSIGKILLAtRandomPointsLosesNoAlert runs the same stream through an
// uninterrupted `vigil serve` and through one SIGKILLed at ten random
// moments (during checkpoint writes, sink writes, between checkpoints)
// and restarted each time: the alert ids are the same, none missing, none
// extra.
func TestSIGKILLAtRandomPointsLosesNoAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the vigil binary")
	}
	bin := buildVigil(t)
	stream := recoveryStream()
	// A slow webhook paces the stream (its queue and the engine's alert
	// queue are small, so backpressure holds the Kafka loop): the kills
	// land while events, alerts and checkpoints are in flight.
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(3 * time.Millisecond)
	}))
	defer hook.Close()
	run := func(name string, kills int) []string {
		b := newBroker(t)
		b.produce(t, "events", stream...)
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(recoveryRules), 0o644)
		addr := freeAddr(t)
		cfgPath := filepath.Join(dir, "vigil.yaml")
		os.WriteFile(cfgPath, []byte(fmt.Sprintf(`rules: [%q]
data_dir: %q
http: {listen: %q}
time: {out_of_orderness: 0s, idle_timeout: 300ms, advance_when_idle: false}
sinks:
  stdout: false
  webhook: {url: %q, queue_size: 8, min_backoff: 10ms, max_backoff: 50ms}
limits: {alert_queue: 16}
checkpoint: {interval: 150ms}
kafka:
  brokers: [%q]
  topic: events
  key: card
  group_id: recovery
  commit_interval: 50ms
  heartbeat_interval: 100ms
  session_timeout: 1s
  rebalance_timeout: 1s
  join_group_backoff: 100ms
  fetch_max_wait: 100ms
`, filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "data"), addr, hook.URL, b.addrs[0])), 0o644)

		rng := rand.New(rand.NewPCG(uint64(kills), 3))
		var atKill []int // records committed at each kill
		p := startProcess(t, bin, cfgPath)
		last := 0
		for k := 0; k < kills; k++ {
			eventually(t, 20*time.Second, name+": the process to serve", func() bool { return storedAlertsOK(addr) })
			// Kill only after this process has made progress of its own
			// (a checkpoint committed more), at a random moment after.
			eventually(t, 30*time.Second, name+": progress before the next kill", func() bool {
				n := committed(t, b, "recovery", "events")
				return n > last || n == len(stream)
			})
			time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
			p.kill(t)
			last = committed(t, b, "recovery", "events")
			atKill = append(atKill, last)
			p = startProcess(t, bin, cfgPath)
		}
		// Done when the group has committed every record (a checkpoint
		// covers the whole stream) and the alerts stop changing.
		for start := time.Now(); committed(t, b, "recovery", "events") != len(stream); time.Sleep(50 * time.Millisecond) {
			if time.Since(start) > 60*time.Second {
				resp, err := http.Get("http://" + addr + "/readyz")
				var body []byte
				if err == nil {
					body, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				if os.Getenv("VIGIL_TEST_DEBUG") != "" {
					p.cmd.Process.Signal(syscall.SIGQUIT) // a goroutine dump in the log
					time.Sleep(time.Second)
				}
				t.Fatalf("%s: %d of %d records committed after 60s; /readyz: %s %v", name, committed(t, b, "recovery", "events"), len(stream), body, err)
			}
		}
		var ids []string
		stable := time.Now()
		deadline := time.Now().Add(60 * time.Second)
		for time.Since(stable) < time.Second {
			if time.Now().After(deadline) {
				t.Fatalf("%s: alerts still changing after 60s", name)
			}
			time.Sleep(200 * time.Millisecond)
			now := alertIDsOf(t, addr)
			if !slices.Equal(now, ids) {
				ids, stable = now, time.Now()
			}
		}
		p.terminate(t)
		if kills > 0 {
			t.Logf("%s: records committed at each kill: %v", name, atKill)
		}
		if os.Getenv("VIGIL_TEST_TWICE") != "" {
			t.Logf("%s: dead letters %d", name, len(b.consumeAll(t, "events.dead-letter")))
		}
		return ids
	}
	want := run("uninterrupted", 0)
	if os.Getenv("VIGIL_TEST_TWICE") != "" {
		again := run("uninterrupted again", 0)
		t.Logf("uninterrupted twice: %v %v", byRule(want), byRule(again))
	}
	got := run("killed", 10)
	if len(want) < 50 {
		t.Fatalf("the stream raised only %d alerts; the test needs more", len(want))
	}
	missing, extra := diffIDs(want, got)
	if len(missing)+len(extra) > 0 {
		t.Errorf("after 10 SIGKILLs: %d alerts, %d missing %v, %d extra %v (uninterrupted: %d)",
			len(got), len(missing), head(missing), len(extra), head(extra), len(want))
	}
	t.Logf("%d alerts by rule %v; after 10 SIGKILLs %v", len(want), byRule(want), byRule(got))
}

func byRule(ids []string) map[string]int {
	m := map[string]int{}
	for _, id := range ids {
		m[strings.SplitN(id, "/", 2)[0]]++
	}
	return m
}

// alertIDsOf reads every stored alert id of a running service, sorted.
func alertIDsOf(t *testing.T, addr string) []string {
	var ids []string
	cursor := ""
	for {
		resp, err := http.Get("http://" + addr + "/v1/alerts?limit=1000&cursor=" + cursor)
		if err != nil {
			return nil
		}
		var page struct {
			Alerts     []cep.Alert `json:"alerts"`
			NextCursor string      `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil
		}
		for _, a := range page.Alerts {
			ids = append(ids, a.Rule+"/"+a.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	slices.Sort(ids)
	return ids
}

func diffIDs(want, got []string) (missing, extra []string) {
	for _, id := range want {
		if _, found := slices.BinarySearch(got, id); !found {
			missing = append(missing, id)
		}
	}
	for _, id := range got {
		if _, found := slices.BinarySearch(want, id); !found {
			extra = append(extra, id)
		}
	}
	return missing, extra
}

func head(ids []string) string {
	if len(ids) > 5 {
		return strings.Join(ids[:5], " ") + " …"
	}
	return strings.Join(ids, " ")
}

// committed sums a group's committed offsets over a topic's partitions:
// the records it has finished.
func committed(t *testing.T, b *broker, group, topic string) int {
	c := &kafka.Client{Addr: kafka.TCP(b.addrs...), Timeout: 5 * time.Second}
	resp, err := c.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group,
		Topics: map[string][]int{topic: {0, 1, 2}}})
	if err != nil {
		return -1
	}
	n := 0
	for _, p := range resp.Topics[topic] {
		if p.CommittedOffset > 0 {
			n += int(p.CommittedOffset)
		}
	}
	return n
}

// consumeAll reads what a one-partition topic holds now.
func (b *broker) consumeAll(t *testing.T, topic string) []kafka.Message {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.addrs, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var out []kafka.Message
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		m, err := r.ReadMessage(ctx)
		cancel()
		if err != nil {
			return out
		}
		out = append(out, m)
	}
}
