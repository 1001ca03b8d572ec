package serve

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaultsAndExample(t *testing.T) {
	def, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := LoadConfig("../../examples/vigil.yaml")
	if err != nil {
		t.Fatalf("examples/vigil.yaml: %v", err)
	}
	// The example documents the defaults: loading it changes nothing.
	if def.HTTP != ex.HTTP || def.Time != ex.Time || def.Limits != ex.Limits || def.Store != ex.Store ||
		def.DataDir != ex.DataDir || def.Sinks.Stdout != ex.Sinks.Stdout || def.Logging != ex.Logging || def.Telemetry != ex.Telemetry {
		t.Errorf("examples/vigil.yaml differs from the defaults:\n%+v\n%+v", ex, def)
	}
	if def.Time.OutOfOrderness != Duration(5*time.Second) || def.Store.Path != filepath.Join("data", "alerts.db") {
		t.Errorf("defaults = %+v", def)
	}
}

func TestConfigKeepsExplicitZerosAndRejectsTypos(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := LoadConfig(write("time: {out_of_orderness: 0s, advance_when_idle: false}\nsinks: {stdout: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Time.OutOfOrderness != 0 || cfg.Time.AdvanceWhenIdle || cfg.Sinks.Stdout {
		t.Errorf("explicit zeros were replaced by defaults: %+v", cfg)
	}
	for body, want := range map[string]string{
		"tme: {field: ts}\n":                                      `c.yaml:1:1: unknown key "tme" (did you mean "time"?)`,
		"time: {out_of_orderness: 5 seconds}\n":                   "invalid duration",
		"kafka: {topic: x}\n":                                     "brokers and topic are required",
		"kafka: {brokers: [b], topic: x, start_offset: middle}\n": "start_offset",
		"sinks: {webhook: {headers: {a: b}}}\n":                   "url is required",
		"logging: {level: loud}\n":                                "unknown level",
		"logging: {format: xml}\n":                                "logging.format: want auto, text or json",
		"telemetry: {otlp_endpoint: collector:4318}\n":            "telemetry.otlp_endpoint: want an http://",
		"telemetry: {otlp_endpoint: 'http://'}\n":                 "telemetry.otlp_endpoint",
	} {
		if _, err := LoadConfig(write(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %q: error %v; want one containing %q", body, err, want)
		}
	}
}

// TestZeroRulesNeedAllowEmpty: a service with no rule starts only when told
// to; zero rules is nearly always a wrong path.
func TestZeroRulesNeedAllowEmpty(t *testing.T) {
	cfg := testConfig(t, "rules: []\n")
	if _, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard); err == nil || !strings.Contains(err.Error(), "--allow-empty") {
		t.Fatalf("New with zero rules: %v; want an error naming --allow-empty", err)
	}
	cfg.AllowEmptyRules = true
	r := start(t, cfg)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
