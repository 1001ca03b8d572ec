package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	log := slog.New(RateLimit(slog.NewJSONHandler(&buf, nil), 2, time.Minute, clock))
	for range 5 {
		log.Warn("sink down", KeyErr, "refused")
	}
	log.Info("sink down") // another level: its own count
	log.Warn("other")
	now = now.Add(time.Minute)
	log.With("sink", "webhook").Warn("sink down") // a new window: says what was dropped
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		s := m["level"].(string) + " " + m["msg"].(string)
		if d, ok := m["dropped"]; ok {
			s += " dropped=" + strings.TrimSpace(jsonString(d))
		}
		got = append(got, s)
	}
	want := []string{"WARN sink down", "WARN sink down", "INFO sink down", "WARN other", "WARN sink down dropped=3"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("logged %q; want %q", got, want)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestNewFormats(t *testing.T) {
	for _, tc := range []struct {
		format, level string
		json          bool
		err           string
	}{
		{"", "", true, ""}, // not a terminal: JSON
		{"auto", "info", true, ""},
		{"json", "debug", true, ""},
		{"text", "warn", false, ""},
		{"xml", "", false, `logging.format: want auto, text or json, got "xml"`},
		{"text", "loud", false, `logging.level: unknown level "loud"`},
	} {
		var buf bytes.Buffer
		log, err := New(&buf, Options{Format: tc.format, Level: tc.level})
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("New(%q, %q) error = %v; want %s", tc.format, tc.level, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		log.Error("boom", KeyRule, "r1")
		isJSON := strings.HasPrefix(buf.String(), "{")
		if isJSON != tc.json || !strings.Contains(buf.String(), "r1") {
			t.Errorf("New(%q) wrote %q; want JSON %v", tc.format, buf.String(), tc.json)
		}
	}
}
