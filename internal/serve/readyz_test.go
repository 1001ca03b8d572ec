package serve

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/health"
)

// receiver is a real webhook endpoint that can be stopped and started
// again on the same address.
type receiver struct {
	addr string
	got  atomic.Int64
	srv  *http.Server
}

func (r *receiver) start(t *testing.T) {
	t.Helper()
	addr := r.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		r.got.Add(1)
	})}
	go func() { _ = r.srv.Serve(ln) }()
}

func (r *receiver) stop() { _ = r.srv.Close() }

func readyz(t *testing.T, url string) (int, health.Report) {
	t.Helper()
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep health.Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatalf("/readyz is not a JSON report: %v", err)
	}
	return resp.StatusCode, rep
}

func component(rep health.Report, name string) health.Component {
	for _, c := range rep.Components {
		if c.Name == name {
			return c
		}
	}
	return health.Component{}
}

// TestReadyzFollowsWebhook stops the webhook's receiver and starts it
// again: /readyz names the webhook not ready while it is down, and ready
// once it delivers again.
func TestReadyzFollowsWebhook(t *testing.T) {
	rcv := &receiver{}
	rcv.start(t)
	defer rcv.stop()
	cfg := testConfig(t, velocityRules)
	cfg.Sinks.Stdout = false
	cfg.Sinks.Webhook = &WebhookSink{URL: "http://" + rcv.addr + "/hook", Timeout: Duration(time.Second),
		MinBackoff: Duration(5 * time.Millisecond), MaxBackoff: Duration(20 * time.Millisecond)}
	r := start(t, cfg)

	code, rep := readyz(t, r.url)
	names := []string{}
	for _, c := range rep.Components {
		names = append(names, c.Name)
	}
	if code != http.StatusOK || rep.Status != health.Ready || component(rep, "sink/webhook").State != health.Ready {
		t.Fatalf("readyz at start = %d %+v; want ready", code, rep)
	}
	if want := "[service checkpoints rules engine dead_letters store source/http sink/webhook]"; fmt.Sprint(names) != want {
		t.Errorf("components = %v; want %s", names, want)
	}

	rcv.stop()
	r.post(t, "["+ev("1", t0, "c1", "declined")+","+ev("2", t0+1000, "c1", "declined")+","+ev("3", t0+2000, "c1", "declined")+"]")
	eventually(t, 10*time.Second, "readyz to report the webhook down", func() bool {
		code, rep = readyz(t, r.url)
		return code == http.StatusServiceUnavailable
	})
	c := component(rep, "sink/webhook")
	if rep.Status != health.NotReady || c.State != health.NotReady || c.Reason == "" {
		t.Errorf("readyz with the receiver down = %+v; want sink/webhook not ready with a reason", rep)
	}
	for _, o := range rep.Components {
		if o.Name != "sink/webhook" && o.State != health.Ready {
			t.Errorf("component %s = %+v; only the webhook is down", o.Name, o)
		}
	}

	rcv.start(t) // the same address
	eventually(t, 10*time.Second, "readyz to be ready again", func() bool {
		code, rep = readyz(t, r.url)
		return code == http.StatusOK
	})
	if rcv.got.Load() != 1 {
		t.Errorf("receiver got %d alerts; want 1", rcv.got.Load())
	}
	m := scrape(t, r.url)
	if ok, bad := m["vigil_webhook_request_duration_seconds_count{outcome=ok}"], m["vigil_webhook_request_duration_seconds_count{outcome=error}"]; ok != 1 || bad < 5 {
		t.Errorf("webhook requests timed: %v ok, %v failed; want 1 ok and at least the 5 failures that made it not ready", ok, bad)
	}
}
