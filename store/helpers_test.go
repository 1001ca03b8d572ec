package store

import (
	"context"
	"encoding/base64"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/cep"
)

// base is an arbitrary alert time: 2026-11-20T10:00:00Z.
var base = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func at(ms int64) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }

func ptr[T any](v T) *T { return &v }

// mk builds a small alert; ms is relative to base.
func mk(id, rule, key, severity string, ms int64, shadow bool) cep.Alert {
	return cep.Alert{
		ID: id, Rule: rule, Key: key, Severity: severity,
		Time: at(ms), DetectedAt: at(ms + 1500), Shadow: shadow,
		RuleVersion: 1, RuleHash: "h-" + rule, Summary: rule + " on " + key,
		Labels: map[string]string{"team": "payments"}, Fields: map[string]any{}, Values: map[string]any{},
		EventIDs: []string{id + "-e1"},
	}
}

func openTemp(t testing.TB, opts Options) *SQLite {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := Open(filepath.Join(t.TempDir(), "sub", "dir", "alerts.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return s
}

func put(t testing.TB, s *SQLite, alerts ...cep.Alert) {
	t.Helper()
	if err := s.Put(context.Background(), alerts...); err != nil {
		t.Fatal(err)
	}
}

func ids(alerts []cep.Alert) []string {
	out := make([]string, len(alerts))
	for i, a := range alerts {
		out[i] = a.ID
	}
	return out
}

// all reads every page of q and fails on a repeated id.
func all(t testing.TB, s *SQLite, q Query) []cep.Alert {
	t.Helper()
	var out []cep.Alert
	seen := map[string]bool{}
	for range 10000 {
		p, err := s.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range p.Alerts {
			if seen[a.ID] {
				t.Fatalf("alert %s on two pages", a.ID)
			}
			seen[a.ID] = true
		}
		out = append(out, p.Alerts...)
		if p.NextCursor == "" {
			return out
		}
		q.Cursor = p.NextCursor
	}
	t.Fatal("pagination does not end")
	return nil
}

func sortedNewestFirst(alerts []cep.Alert) bool {
	return slices.IsSortedFunc(alerts, NewestFirst)
}

func join(s []string) string { return strings.Join(s, ",") }

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
