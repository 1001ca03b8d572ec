package gen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func stream(t *testing.T, opts Options, n int) ([]byte, Stats) {
	t.Helper()
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Stream(context.Background(), g, WriterSink{W: &buf}, Limits{Count: n}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), g.Stats()
}

func TestSameSeedSameBytes(t *testing.T) {
	a, _ := stream(t, Options{Seed: 7, Cards: 100}, 5000)
	b, _ := stream(t, Options{Seed: 7, Cards: 100}, 5000)
	c, _ := stream(t, Options{Seed: 8, Cards: 100}, 5000)
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed gave different bytes")
	}
	if bytes.Equal(a, c) {
		t.Fatal("another seed gave the same bytes")
	}
}

func TestStreamShape(t *testing.T) {
	out, st := stream(t, Options{Seed: 1, Cards: 200, FraudRate: 0.02}, 20000)
	lines := bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n"))
	if len(lines) != 20000 || st.Events != 20000 {
		t.Fatalf("%d lines, %d events; want 20000", len(lines), st.Events)
	}
	var last time.Time
	types, fraud := map[string]int{}, map[string]int{}
	ids := map[string]bool{}
	for i, l := range lines {
		var e struct {
			ID        string `json:"id"`
			TS        string `json:"ts"`
			Type      string `json:"type"`
			FraudType string `json:"fraud_type"`
			IsFraud   bool   `json:"is_fraud"`
		}
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		ts, err := time.Parse(time.RFC3339, e.TS)
		if err != nil || ts.Before(last) {
			t.Fatalf("line %d: time %s out of order or bad (%v)", i+1, e.TS, err)
		}
		last = ts
		if ids[e.ID] {
			t.Fatalf("line %d: id %s repeated", i+1, e.ID)
		}
		ids[e.ID] = true
		types[e.Type]++
		if e.IsFraud != (e.FraudType != "") {
			t.Fatalf("line %d: is_fraud %v with fraud_type %q", i+1, e.IsFraud, e.FraudType)
		}
		if e.IsFraud {
			fraud[e.FraudType]++
		}
	}
	for _, typ := range []string{"auth", "capture", "refund", "login", "password_reset", "payout"} {
		if types[typ] == 0 {
			t.Errorf("no %s events: %v", typ, types)
		}
	}
	for _, typ := range FraudTypes {
		if fraud[typ] == 0 || fraud[typ] != st.FraudEvents[typ] {
			t.Errorf("fraud %s: %d events in the output, %d counted", typ, fraud[typ], st.FraudEvents[typ])
		}
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{{FraudRate: 2}, {Types: []string{"nope"}}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) = nil error", o)
		}
	}
	g, _ := New(Options{})
	if err := Stream(context.Background(), g, WriterSink{W: &bytes.Buffer{}}, Limits{}); err == nil {
		t.Error("Stream without a count or duration: nil error")
	}
}

// ExampleNew prints the first events of a seeded stream; the same seed
// always prints the same lines.
func ExampleNew() {
	g, _ := New(Options{Seed: 42, Cards: 10})
	var buf bytes.Buffer
	Stream(context.Background(), g, WriterSink{W: &buf}, Limits{Count: 200})
	line, _, _ := bytes.Cut(buf.Bytes(), []byte("\n"))
	fmt.Println(string(line))
	fmt.Println(g.Stats().Events)
	// Output:
	// {"id":"ev-0000000001","ts":"2026-11-01T00:00:00.000Z","type":"login","card_id":"card-000000","account_id":"acct-000000","status":"approved","country":"IT","device_id":"dev-f9015ec7","is_fraud":false}
	// 200
}
