package event

import "testing"

func TestTimeUnits(t *testing.T) {
	for _, tc := range []struct {
		unit string
		v    any
		want int64
		err  string // in the error; "" for none
	}{
		{"", 1763632800.0, 1763632800, ""}, // the library's default: any milliseconds
		{UnitMillis, 1763632800000.0, 1763632800000, ""},
		{UnitMillis, 1763632800.0, 0, "looks like Unix seconds: as milliseconds it is 1970-01-21T09:53:52.800Z"},
		{UnitMillis, 0.0, 0, "looks like Unix seconds"},
		{UnitMillis, 315532800000.0, 315532800000, ""}, // 1980-01-01 itself is fine
		{UnitSeconds, 1763632800.0, 1763632800000, ""},
		{UnitSeconds, 1763632800.25, 1763632800250, ""},
		{UnitSeconds, 1763632800.0001, 0, "at most millisecond precision"},
		{UnitSeconds, "2026-11-20T10:00:00Z", 1795168800000, ""}, // strings are RFC 3339 in any unit
		{UnitMillis, 1.5, 0, "not an integer of Unix milliseconds"},
	} {
		d := Decoder{TimeUnit: tc.unit}
		got, err := d.timeValue(tc.v)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("unit %q: timeValue(%v) = %d, %v; want %d", tc.unit, tc.v, got, err, tc.want)
		case tc.err != "" && (err == nil || !contains(err.Error(), tc.err)):
			t.Errorf("unit %q: timeValue(%v) = %d, %v; want an error with %q", tc.unit, tc.v, got, err, tc.err)
		}
	}
}

func TestRFC3339Variants(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64 // -1: rejected
	}{
		{"2026-11-20T10:00:00Z", 1795168800000},
		{"2026-11-20t10:00:00z", 1795168800000}, // RFC 3339 §5.6 allows lower case
		{"2026-11-20t10:00:00.5+01:00", 1795165200500},
		{"2026-11-20T10:00:00.123456789Z", 1795168800123},
		{"2026-11-20T10:00:00,5Z", -1}, // a comma fraction is ISO 8601, not RFC 3339
		{"2026-11-20 10:00:00Z", -1},
		{"2026-11-20T10:00:00", -1}, // no zone
	} {
		got, err := ParseTime(tc.in)
		if tc.want < 0 {
			if err == nil {
				t.Errorf("ParseTime(%q) = %d; want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseTime(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
