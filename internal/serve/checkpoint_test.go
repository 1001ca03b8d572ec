package serve

import (
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/checkpoint"
)

// TestRestartKeepsPartialMatchesAndBufferedEvents stops a service in the
// middle of a sequence, with an event still waiting for the watermark,
// and starts it again: the alert after the restart is the one an
// uninterrupted run raises, id included.
func TestRestartKeepsPartialMatchesAndBufferedEvents(t *testing.T) {
	first := []string{
		payment("s1", t0, "c1", 1, "approved"),
		payment("d1", t0+1000, "c2", 10, "declined"),
		payment("d2", t0+2000, "c2", 10, "declined"),
		payment("d3", t0+2500, "c2", 10, "declined"), // buffered: out-of-orderness 1s
	}
	second := []string{
		payment("l1", t0+4000, "c1", 900, "approved"),
		payment("x", t0+9000, "c9", 1, "approved"), // moves the watermark past everything
	}
	config := func() *Config {
		cfg := reloadConfig(t, probeRules)
		cfg.Time.OutOfOrderness = Duration(time.Second)
		return cfg
	}
	ref := start(t, config())
	ref.post(t, strings.Join(append(append([]string{}, first...), second...), "\n"))
	ref.settle(t)
	want := map[string]string{}
	for _, a := range ref.alerts(t, "") {
		want[a.Rule] = a.ID
	}
	if len(want) != 2 {
		t.Fatalf("reference run: %v", want)
	}

	cfg := config()
	r := start(t, cfg)
	r.post(t, strings.Join(first, "\n"))
	r.settle(t)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	r = start(t, cfg)
	r.post(t, strings.Join(second, "\n"))
	r.settle(t)
	got := map[string]string{}
	for _, a := range r.alerts(t, "") {
		got[a.Rule] = a.ID
	}
	if len(got) != 2 || got["probe-then-large"] != want["probe-then-large"] || got["declines"] != want["declines"] {
		t.Errorf("after a restart: %v; an uninterrupted run: %v", got, want)
	}
}

func TestRestartWithChangedRulesDropsTheirState(t *testing.T) {
	cfg := reloadConfig(t, probeRules)
	r := start(t, cfg)
	r.post(t, payment("s1", t0, "c1", 1, "approved")+"\n"+payment("d1", t0+1, "c2", 10, "declined")+"\n"+payment("d2", t0+2, "c2", 10, "declined"))
	r.settle(t)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.Rules[0], []byte(strings.Replace(probeRules, "within: 10m", "within: 20m", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	svc, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "the state of rules changed since it was written is dropped") || !strings.Contains(logs.String(), "dropped_rules=probe-then-large") {
		t.Errorf("log: %s", logs.String())
	}
	svc.stopLife()
	svc.eng.Halt(t.Context())
	svc.closeAll(t.Context())
	svc.ln.Close()

	r = start(t, cfg)
	r.post(t, payment("l1", t0+3, "c1", 900, "approved")+"\n"+payment("d3", t0+4, "c2", 10, "declined"))
	r.settle(t)
	if a := r.alerts(t, "rule=probe-then-large"); len(a) != 0 {
		t.Errorf("a rule whose within changed kept its partial match: %v", a)
	}
	if a := r.alerts(t, "rule=declines"); len(a) != 1 {
		t.Errorf("an unchanged rule lost its window: %v", a)
	}
}

func TestCheckpointOfAnUnknownVersionIsRefused(t *testing.T) {
	cfg := reloadConfig(t, probeRules)
	r := start(t, cfg)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(cfg.Checkpoint.Dir, "checkpoint-*.vcp"))
	if len(paths) == 0 {
		t.Fatal("a graceful stop wrote no checkpoint")
	}
	newest := paths[len(paths)-1]
	data, _ := os.ReadFile(newest)
	binary.BigEndian.PutUint32(data[8:], checkpoint.FormatVersion+7)
	os.WriteFile(newest, data, 0o600)
	_, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "unknown format version 8") || !strings.Contains(err.Error(), "move "+cfg.Checkpoint.Dir+" away") {
		t.Errorf("start with a checkpoint of an unknown version: %v", err)
	}
}
