package serve

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/store/clickhouse"
	"github.com/vigilhq/vigil/store/clickhouse/chtest"
)

// TestServeWithClickHouse: events posted over HTTP are stored, alerts
// too, and alert history is answered from ClickHouse.
func TestServeWithClickHouse(t *testing.T) {
	addr := chtest.Addr(t)
	cfg := testConfig(t, velocityRules)
	cfg.ClickHouse = &ClickHouseConfig{Addr: addr, Database: chtest.Database(t, addr), Keys: []string{"card"}}
	cfg.ClickHouse.Batch.Interval = Duration(20 * time.Millisecond)
	cfg.Sinks.Stdout = false
	r := start(t, cfg)
	var body strings.Builder
	for i := range 5 {
		fmt.Fprintf(&body, `{"id":"e%d","ts":%d,"card":"c1","status":"declined","type":"auth"}`+"\n", i, 1795168800000+int64(i)*1000)
	}
	body.WriteString(`{"id":"x","ts":1795168809000,"card":"c2","status":"approved"}` + "\n")
	if code, resp := r.post(t, body.String()); code != http.StatusOK {
		t.Fatalf("POST = %d %v", code, resp)
	}
	// emit: first: one alert, at the third decline.
	eventually(t, 10*time.Second, "the alert in ClickHouse", func() bool { return len(r.alerts(t, "rule=velocity")) == 1 })
	got := r.alerts(t, "rule=velocity")[0]
	if got.Key != "c1" || got.Time.UnixMilli() != 1795168802000 || strings.Join(got.EventIDs, ",") != "e0,e1,e2" {
		t.Fatalf("alert from the API = %+v", got)
	}
	// The embedded store has the same alert: the API answered from ClickHouse.
	if local, ok, err := r.svc.store.Get(context.Background(), got.ID); err != nil || !ok || local.ID != got.ID {
		t.Fatalf("embedded store: %v %v", ok, err)
	}
	if _, ok := r.svc.api.Handler.(http.Handler); !ok || r.svc.ch == nil {
		t.Fatal("no ClickHouse store in the service")
	}
	st, err := clickhouse.Open(context.Background(), cfg.ClickHouse.StoreConfig(r.svc.log))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	eventually(t, 10*time.Second, "6 events in ClickHouse", func() bool {
		n, err := st.CountEvents(context.Background(), time.UnixMilli(0), time.UnixMilli(1<<45))
		return err == nil && n == 6
	})
	eventually(t, 5*time.Second, "the event store's metrics", func() bool {
		m := scrape(t, r.url)
		return m[`vigil_event_store_rows_total{store=clickhouse}`] == 6 && m[`vigil_event_store_queue{store=clickhouse}`] == 0 &&
			m[`vigil_event_store_failing{store=clickhouse}`] == 0
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestClickHouseDownShowsInReadyz: with the server stopped, events wait
// (bounded), /readyz says why, and once it is back everything is stored.
func TestClickHouseDownShowsInReadyz(t *testing.T) {
	addr, ch := privateClickHouse(t, "19400")
	cfg := testConfig(t, velocityRules)
	cfg.ClickHouse = &ClickHouseConfig{Addr: []string{addr}, Database: "down", Keys: []string{"card"}}
	cfg.ClickHouse.Batch.Interval = Duration(20 * time.Millisecond)
	cfg.Sinks.Stdout = false
	r := start(t, cfg)
	ch("stop")
	// Now: the watermark follows the wall clock while the service idles.
	if code, resp := r.post(t, fmt.Sprintf(`{"id":"e1","ts":%d,"card":"c1","status":"declined"}`, time.Now().UnixMilli()+60_000)); code != http.StatusOK {
		t.Fatalf("POST = %d %v", code, resp)
	}
	readyz := func() (int, string) {
		resp, err := http.Get(r.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eventually(t, 10*time.Second, "/readyz to report ClickHouse", func() bool {
		code, body := readyz()
		return code == http.StatusServiceUnavailable && strings.Contains(body, "ClickHouse")
	})
	ch("start")
	eventually(t, 20*time.Second, "ready again", func() bool { code, _ := readyz(); return code == http.StatusOK })
	st, err := clickhouse.Open(context.Background(), cfg.ClickHouse.StoreConfig(r.svc.log))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	if n, err := st.CountEvents(context.Background(), time.UnixMilli(0), time.UnixMilli(1<<45)); err != nil || n != 1 {
		t.Fatalf("events stored after the outage: %d, %v; want 1", n, err)
	}
}

// privateClickHouse starts a server of the test's own (scripts/clickhouse.sh)
// and returns its address and a function to run the script again.
func privateClickHouse(t *testing.T, port string) (string, func(...string) string) {
	t.Helper()
	chtest.Addr(t) // same skip rule
	dir := t.TempDir()
	script, _ := filepath.Abs("../../scripts/clickhouse.sh")
	ch := func(args ...string) string {
		cmd := exec.Command(script, append(args, dir)...)
		cmd.Env = append(os.Environ(), "PORT="+port)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("clickhouse.sh %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	addr := ch("start")
	t.Cleanup(func() { ch("stop") })
	return addr, ch
}

// TestKafkaOffsetsWaitForClickHouse: a Kafka offset is committed only once
// its event is in ClickHouse, with checkpoints (the checkpoint waits for
// the events) and without (the ack waits for them).
func TestKafkaOffsetsWaitForClickHouse(t *testing.T) {
	for _, interval := range []time.Duration{0, time.Second} {
		t.Run(fmt.Sprintf("checkpoint every %s", interval), func(t *testing.T) { kafkaOffsetsWaitForClickHouse(t, interval) })
	}
}

func kafkaOffsetsWaitForClickHouse(t *testing.T, checkpoints time.Duration) {
	addr, ch := privateClickHouse(t, "19500")
	b := newBroker(t)
	cfg := testConfig(t, velocityRules)
	cfg.Checkpoint.Interval = Duration(checkpoints)
	cfg.Kafka = b.kafkaSource()
	cfg.ClickHouse = &ClickHouseConfig{Addr: []string{addr}, Database: "kafka", Keys: []string{"card"}}
	cfg.ClickHouse.Batch.Interval = Duration(20 * time.Millisecond)
	cfg.Sinks.Stdout = false
	r := start(t, cfg)
	committed := func() int64 {
		var c int64 = -1
		if g := b.GroupInfo("vigil-test"); g != nil {
			for _, o := range g.Commits["events"] {
				c = max(c, o.Offset)
			}
		}
		return c
	}
	ch("stop")
	now := time.Now().UnixMilli() + 60_000 // the idle watermark follows the wall clock
	b.produce(t, "events", [2]string{"c1", ev("k1", now, "c1", "approved")}, [2]string{"c1", ev("k2", now+1000, "c1", "approved")})
	eventually(t, 20*time.Second, "records processed", func() bool { return r.svc.eng.Stats().Processed == 2 })
	time.Sleep(1500 * time.Millisecond) // several commit and checkpoint intervals
	if c := committed(); c > 0 {
		t.Fatalf("offset %d committed while ClickHouse was down", c)
	}
	ch("start")
	eventually(t, 30*time.Second, "the offsets committed once stored", func() bool { return committed() == 2 })
	st, err := clickhouse.Open(context.Background(), cfg.ClickHouse.StoreConfig(r.svc.log))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	if n, err := st.CountEvents(context.Background(), time.UnixMilli(0), time.UnixMilli(1<<45)); err != nil || n != 2 {
		t.Fatalf("events stored: %d, %v; want 2", n, err)
	}
}
