package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/cep"
)

// testConfig returns a config for a service on a free port with its own
// data directory and the given rules, time moving with every event.
func testConfig(t *testing.T, rulesYAML string) *Config {
	t.Helper()
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(rulesYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.Rules = []string{rulesPath}
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Time.OutOfOrderness = 0
	cfg.Time.IdleTimeout = Duration(300 * time.Millisecond)
	cfg.Limits.Workers = 2
	cfg.derive()
	return cfg
}

// syncBuffer is a goroutine-safe buffer for the stdout sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type running struct {
	svc    *Service
	url    string
	stdout *syncBuffer
	stop   func() error
}

// start runs a service until the test ends (or stop is called).
func start(t *testing.T, cfg *Config) *running {
	t.Helper()
	out := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: testLogLevel()}))
	svc, err := New(cfg, logger, out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- svc.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			runErr = <-errc
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("service stopped with: %v", err)
		}
	})
	return &running{svc: svc, url: "http://" + svc.Addr(), stdout: out, stop: stop}
}

func (r *running) post(t *testing.T, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(r.url+"/v1/events", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("response %s is not JSON: %v", data, err)
	}
	return resp.StatusCode, out
}

func (r *running) alerts(t *testing.T, query string) []cep.Alert {
	t.Helper()
	resp, err := http.Get(r.url + "/v1/alerts?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Alerts []cep.Alert `json:"alerts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	return page.Alerts
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const velocityRules = `rules:
  - name: velocity
    key: card
    severity: high
    threshold:
      where: status == "declined"
      window: 10m
      condition: count() >= 3
    alert:
      summary: '{{ count() }} declines on {{ key }}'
`

// testLogLevel is warn, or debug with VIGIL_TEST_DEBUG=1.
func testLogLevel() slog.Level {
	if os.Getenv("VIGIL_TEST_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}
