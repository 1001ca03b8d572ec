package sinks

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/cep"
)

// TestMain fails the package if a sink, kafka-go or net/http client
// goroutine outlives the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaks := leakedGoroutines(5 * time.Second); leaks != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaks)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits up to d for suspect goroutines to exit and
// returns the stacks of those that did not.
func leakedGoroutines(d time.Duration) string {
	suspects := []string{"vigil/sinks.", "segmentio/kafka-go", "twmb/franz-go", "net/http.(*persistConn)"}
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaks []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "leakedGoroutines") {
				continue // this goroutine
			}
			for _, s := range suspects {
				if strings.Contains(g, s) {
					leaks = append(leaks, g)
					break
				}
			}
		}
		if len(leaks) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaks, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	t0 = time.Date(2026, 11, 20, 10, 4, 5, 123e6, time.UTC)
)

// testAlert returns a typical alert, with the given id and key.
func testAlert(id, key string) cep.Alert {
	return cep.Alert{
		ID: id, Rule: "card-testing", RuleVersion: 7, RuleHash: "9f2c", Severity: "high",
		Key: key, Time: t0, DetectedAt: t0.Add(time.Second),
		Summary:  "3 small probes then a big payment",
		Labels:   map[string]string{"team": "payments"},
		Fields:   map[string]any{"probe_total": 3.5},
		Matched:  map[string][]map[string]any{"big": {{"id": "e4", "amount": 900.0}}},
		EventIDs: []string{"e1", "e2", "e3", "e4"},
	}
}

// testAlerts returns n alerts with ids a000… spread over keys card-0…card-{keys-1}.
func testAlerts(n, keys int) []cep.Alert {
	as := make([]cep.Alert, n)
	for i := range as {
		as[i] = testAlert(fmt.Sprintf("a%03d", i), fmt.Sprintf("card-%d", i%keys))
	}
	return as
}

// idsOf returns the alerts' ids, in order.
func idsOf(alerts []cep.Alert) []string {
	ids := make([]string, len(alerts))
	for i, a := range alerts {
		ids[i] = a.ID
	}
	return ids
}
