package serve

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is a real OTLP/HTTP endpoint: it decodes what the exporter
// posts to /v1/traces.
type otlpReceiver struct {
	mu    sync.Mutex
	spans map[string][]string // span name -> trace ids
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req collectortrace.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				o.spans[sp.Name] = append(o.spans[sp.Name], hex.EncodeToString(sp.TraceId))
			}
		}
	}
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// TestTracesOverOTLP checks that with telemetry.otlp_endpoint set, each
// ingested batch and each sink write is a span sent over OTLP/HTTP, and
// the alert a batch raised carries that batch's trace id.
func TestTracesOverOTLP(t *testing.T) {
	rcv := &otlpReceiver{spans: map[string][]string{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	cfg := testConfig(t, velocityRules)
	cfg.Sinks.Stdout = false
	cfg.Telemetry.OTLPEndpoint = srv.URL
	r := start(t, cfg)
	r.post(t, "["+ev("1", t0, "c1", "declined")+","+ev("2", t0+1000, "c1", "declined")+","+ev("3", t0+2000, "c1", "declined")+"]")
	var alerts []string
	eventually(t, 10*time.Second, "the alert in the store", func() bool {
		for _, a := range r.alerts(t, "") {
			alerts = append(alerts, a.TraceID)
		}
		return len(alerts) > 0
	})
	if err := r.stop(); err != nil { // flushes the spans
		t.Fatal(err)
	}
	if len(alerts) != 1 || len(alerts[0]) != 32 {
		t.Fatalf("alert trace ids = %q; want one of 32 hex digits", alerts)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if got := rcv.spans["ingest.batch"]; !slices.Equal(got, []string{alerts[0]}) {
		t.Errorf("ingest.batch spans' traces = %q; want the alert's [%s]", got, alerts[0])
	}
	if got := len(rcv.spans["sink.write"]); got != 1 {
		t.Errorf("sink.write spans = %d; want 1 (the store)", got)
	}
}
