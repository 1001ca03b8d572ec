package progress

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestSummaryWhenNotATerminal(t *testing.T) {
	no := false
	for _, tc := range []struct {
		name string
		o    Options
		unit Unit
		n    int64
		want string // a regexp of the whole output
	}{
		{"events", Options{Terminal: &no}, Items, 1200, `^bench velocity: 1200 events in [0-9.]+m?s \([0-9]+ events/s\)\n$`},
		{"bytes", Options{Terminal: &no}, Bytes, 3 << 20, `^bench velocity: 3\.0 MiB in [0-9.]+m?s \([0-9.]+ MiB/s\)\n$`},
		{"quiet", Options{Quiet: true}, Items, 5, `^$`},
		{"the command sums up", Options{Terminal: &no, NoSummary: true}, Items, 5, `^$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			b := New(&buf, "bench velocity", tc.unit, 2000, tc.o)
			b.Set(tc.n / 2)
			b.Set(tc.n)
			b.Finish()
			if !regexp.MustCompile(tc.want).MatchString(buf.String()) {
				t.Errorf("output %q; want %s", buf.String(), tc.want)
			}
		})
	}
}

// On a terminal the library draws the bar and Finish clears it, leaving
// no summary.
func TestBarOnATerminal(t *testing.T) {
	yes := true
	var buf bytes.Buffer
	b := New(&buf, "replay", Items, 100, Options{Terminal: &yes})
	b.Set(50)
	b.Finish()
	out := buf.String()
	if !strings.Contains(out, "replay") || strings.Contains(out, "events/s)\n") {
		t.Errorf("terminal output %q; want the bar, then no summary line", out)
	}
}
