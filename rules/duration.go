package rules

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

var unitMillis = map[string]int64{
	"ms": 1,
	"s":  1000,
	"m":  60 * 1000,
	"h":  60 * 60 * 1000,
	"d":  24 * 60 * 60 * 1000,
}

// ParseDuration reads a vigil duration — integers with the units ms, s, m,
// h and d (24h), combinable as in "1h30m" — and returns milliseconds.
func ParseDuration(s string) (int64, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total int64
	for in != "" {
		i := 0
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration %q: want a number followed by ms, s, m, h or d", s)
		}
		n, err := strconv.ParseInt(in[:i], 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return 0, fmt.Errorf("invalid duration %q: duration too large", s)
			}
			return 0, fmt.Errorf("invalid duration %q: %v", s, err)
		}
		in = in[i:]
		j := 0
		for j < len(in) && (in[j] < '0' || in[j] > '9') {
			j++
		}
		if j == 0 {
			return 0, fmt.Errorf("invalid duration %q: missing unit after %d (use ms, s, m, h or d)", s, n)
		}
		unit, ok := unitMillis[in[:j]]
		if !ok {
			return 0, fmt.Errorf("invalid duration %q: unknown unit %q (use ms, s, m, h or d)", s, in[:j])
		}
		in = in[j:]
		if n > math.MaxInt64/unit || total > math.MaxInt64-n*unit {
			return 0, fmt.Errorf("invalid duration %q: duration too large", s)
		}
		total += n * unit
	}
	return total, nil
}

// FormatDuration renders milliseconds in the largest exact units, e.g. 5400000 → "1h30m".
func FormatDuration(ms int64) string {
	if ms == 0 {
		return "0s"
	}
	var b strings.Builder
	if ms < 0 {
		b.WriteByte('-')
		ms = -ms
	}
	for _, u := range []struct {
		name string
		ms   int64
	}{{"d", unitMillis["d"]}, {"h", unitMillis["h"]}, {"m", unitMillis["m"]}, {"s", 1000}, {"ms", 1}} {
		if ms >= u.ms {
			fmt.Fprintf(&b, "%d%s", ms/u.ms, u.name)
			ms %= u.ms
		}
	}
	return b.String()
}
