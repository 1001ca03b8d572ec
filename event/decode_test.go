package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// base is 2026-11-20T10:04:05Z in Unix milliseconds.
const base = 1795169045000

var knownReasons = map[string]bool{
	ReasonMalformed: true, ReasonTooLarge: true, ReasonTooDeep: true,
	ReasonNoTime: true, ReasonBadTime: true, ReasonBadID: true,
}

// check decodes in with d and compares the outcome: the rejection reason,
// or the event's time and id.
func check(t *testing.T, d *Decoder, in string, wantReason string, wantTime int64, wantID string) {
	t.Helper()
	ev, err := d.Decode([]byte(in), "src:7")
	if wantReason != "" {
		if err == nil {
			t.Fatalf("Decode(%.80q) = time %d, id %q; want rejection %q", in, ev.Time, ev.ID, wantReason)
		}
		if ev != nil {
			t.Errorf("Decode(%.80q) returned an event with its error", in)
		}
		if got := ReasonOf(err); got != wantReason {
			t.Errorf("Decode(%.80q): reason %q (%v), want %q", in, got, err, wantReason)
		}
		if err.Error() == "" {
			t.Errorf("Decode(%.80q): empty message", in)
		}
		return
	}
	if err != nil {
		t.Fatalf("Decode(%.80q): %v (%s)", in, err, ReasonOf(err))
	}
	if ev.Time != wantTime || ev.ID != wantID {
		t.Errorf("Decode(%.80q) = time %d (%s), id %q; want %d (%s), %q",
			in, ev.Time, FormatTime(ev.Time), ev.ID, wantTime, FormatTime(wantTime), wantID)
	}
	if ev.Fields == nil {
		t.Errorf("Decode(%.80q): nil Fields", in)
	}
}

func TestDecodeTime(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   int64
		reason string
	}{
		// RFC 3339 strings.
		{"no fraction", `{"ts":"2026-11-20T10:04:05Z"}`, base, ""},
		{"1 digit", `{"ts":"2026-11-20T10:04:05.5Z"}`, base + 500, ""},
		{"3 digits", `{"ts":"2026-11-20T10:04:05.123Z"}`, base + 123, ""},
		{"6 digits", `{"ts":"2026-11-20T10:04:05.123456Z"}`, base + 123, ""},
		{"9 digits", `{"ts":"2026-11-20T10:04:05.123456789Z"}`, base + 123, ""},
		{"sub-ms digits truncate, never round up", `{"ts":"2026-11-20T10:04:05.999999999Z"}`, base + 999, ""},
		{"fraction of zeros", `{"ts":"2026-11-20T10:04:05.000000Z"}`, base, ""},
		{"offset +00:00", `{"ts":"2026-11-20T10:04:05+00:00"}`, base, ""},
		{"positive offset", `{"ts":"2026-11-20T12:04:05.250+02:00"}`, base + 250, ""},
		{"negative half-hour offset", `{"ts":"2026-11-20T04:34:05.5-05:30"}`, base + 500, ""},
		{"offset across midnight", `{"ts":"2026-11-21T00:04:05+14:00"}`, base, ""},
		{"6 digits with offset", `{"ts":"2026-11-20T11:04:05.000001+01:00"}`, base, ""},
		{"epoch", `{"ts":"1970-01-01T00:00:00Z"}`, 0, ""},
		{"before the epoch floors", `{"ts":"1969-12-31T23:59:59.9995Z"}`, -1, ""},
		{"year 0000", `{"ts":"0000-01-01T00:00:00Z"}`, -62167219200000, ""},
		{"year 9999", `{"ts":"9999-12-31T23:59:59.999999999Z"}`, 253402300799999, ""},
		// Unix milliseconds.
		{"unix ms", `{"ts":1795169045123}`, base + 123, ""},
		{"unix ms zero", `{"ts":0}`, 0, ""},
		{"unix ms negative", `{"ts":-1500}`, -1500, ""},
		{"unix ms as 1.0 form", `{"ts":1795169045123.0}`, base + 123, ""},
		{"unix ms in exponent form", `{"ts":1.795169045e12}`, base, ""},
		{"largest unix ms", `{"ts":253402300799999}`, 253402300799999, ""},
		{"smallest unix ms", `{"ts":-62167219200000}`, -62167219200000, ""},
		// Bad times.
		{"fractional ms", `{"ts":1795169045123.5}`, 0, ReasonBadTime},
		{"tiny fraction", `{"ts":0.001}`, 0, ReasonBadTime},
		{"huge number", `{"ts":1e300}`, 0, ReasonBadTime},
		{"beyond 2^53", `{"ts":9007199254740993}`, 0, ReasonBadTime},
		{"unix ms past year 9999", `{"ts":253402300800000}`, 0, ReasonBadTime},
		{"unix ms before year 0000", `{"ts":-62167219200001}`, 0, ReasonBadTime},
		{"offset pushes past year 9999", `{"ts":"9999-12-31T23:00:00-05:00"}`, 0, ReasonBadTime},
		{"offset pushes before year 0000", `{"ts":"0000-01-01T00:00:00+01:00"}`, 0, ReasonBadTime},
		{"unix seconds as a string", `{"ts":"1795169045"}`, 0, ReasonBadTime},
		{"empty string", `{"ts":""}`, 0, ReasonBadTime},
		{"date only", `{"ts":"2026-11-20"}`, 0, ReasonBadTime},
		{"no zone", `{"ts":"2026-11-20T10:04:05"}`, 0, ReasonBadTime},
		{"space separator", `{"ts":"2026-11-20 10:04:05Z"}`, 0, ReasonBadTime},
		{"month 13", `{"ts":"2026-13-20T10:04:05Z"}`, 0, ReasonBadTime},
		{"hour 24", `{"ts":"2026-11-20T24:00:00Z"}`, 0, ReasonBadTime},
		{"February 30", `{"ts":"2026-02-30T10:04:05Z"}`, 0, ReasonBadTime},
		{"dot without digits", `{"ts":"2026-11-20T10:04:05.Z"}`, 0, ReasonBadTime},
		{"garbage", `{"ts":"yesterday"}`, 0, ReasonBadTime},
		{"bool", `{"ts":true}`, 0, ReasonBadTime},
		{"object", `{"ts":{"ms":1}}`, 0, ReasonBadTime},
		{"array", `{"ts":[1795169045000]}`, 0, ReasonBadTime},
		// Missing.
		{"missing", `{"id":"a"}`, 0, ReasonNoTime},
		{"null", `{"ts":null}`, 0, ReasonNoTime},
		{"empty object", `{}`, 0, ReasonNoTime},
		{"only in a nested object", `{"x":{"ts":0}}`, 0, ReasonNoTime},
		{"other case", `{"TS":0}`, 0, ReasonNoTime},
	}
	var d Decoder
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check(t, &d, tc.in, tc.reason, tc.want, "src:7")
		})
	}
}

func TestDecodeTimeField(t *testing.T) {
	d := Decoder{TimeField: "occurred_at", IDField: "event_id"}
	check(t, &d, `{"occurred_at":"2026-11-20T10:04:05Z","event_id":"e1","ts":"junk"}`, "", base, "e1")
	check(t, &d, `{"ts":0,"event_id":"e1"}`, ReasonNoTime, 0, "")
	check(t, &d, `{"occurred_at":0,"id":"not the id field"}`, "", 0, "src:7")
	_, err := d.Decode([]byte(`{"ts":0}`), "p")
	if !strings.Contains(err.Error(), `"occurred_at"`) {
		t.Errorf("message %q does not name the time field", err)
	}
}

func TestDecodeID(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   string
		reason string
	}{
		{"string", `{"ts":0,"id":"evt-42"}`, "evt-42", ""},
		{"string with spaces and unicode", `{"ts":0,"id":" ü 1 "}`, " ü 1 ", ""},
		{"integer", `{"ts":0,"id":42}`, "42", ""},
		{"negative", `{"ts":0,"id":-7}`, "-7", ""},
		{"fraction", `{"ts":0,"id":4.5}`, "4.5", ""},
		{"integer written as 1e3", `{"ts":0,"id":1e3}`, "1000", ""},
		{"integer written as 42.0", `{"ts":0,"id":42.0}`, "42", ""},
		{"largest exact integer", `{"ts":0,"id":9007199254740991}`, "9007199254740991", ""},
		// Beyond 2^53 a float64 cannot tell neighbours apart: the literal
		// text is kept.
		{"2^53+1", `{"ts":0,"id":9007199254740993}`, "9007199254740993", ""},
		{"snowflake id", `{"ts":0,"id":1234567890123456789}`, "1234567890123456789", ""},
		{"its neighbour", `{"ts":0,"id":1234567890123456788}`, "1234567890123456788", ""},
		{"negative snowflake", `{"ts":0,"id": -1234567890123456789 }`, "-1234567890123456789", ""},
		{"beyond int64", `{"ts":0,"id":123456789012345678901234}`, "123456789012345678901234", ""},
		{"large in exponent form", `{"ts":0,"id":1e20}`, "100000000000000000000", ""},
		{"missing", `{"ts":0}`, "src:7", ""},
		{"null", `{"ts":0,"id":null}`, "src:7", ""},
		{"empty string", `{"ts":0,"id":""}`, "src:7", ""},
		{"bool", `{"ts":0,"id":true}`, "", ReasonBadID},
		{"object", `{"ts":0,"id":{"a":1}}`, "", ReasonBadID},
		{"array", `{"ts":0,"id":["a"]}`, "", ReasonBadID},
		// The time is checked first.
		{"bad id and no time", `{"id":true}`, "", ReasonNoTime},
	}
	var d Decoder
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check(t, &d, tc.in, tc.reason, 0, tc.want)
		})
	}
}

func TestFromMapID(t *testing.T) {
	// FromMap also takes maps decoded elsewhere, with Go numbers and
	// json.Number.
	var d Decoder
	tests := []struct {
		id   any
		want string
	}{
		{int(12), "12"}, {int64(-3), "-3"}, {json.Number("1234567890123456789"), "1234567890123456789"},
		{float64(0.25), "0.25"}, {"x", "x"}, {nil, "pos"},
	}
	for _, tc := range tests {
		ev, err := d.FromMap(map[string]any{"ts": float64(5), "id": tc.id}, "pos")
		if err != nil || ev.ID != tc.want || ev.Time != 5 {
			t.Errorf("FromMap(id %#v) = %+v, %v; want id %q", tc.id, ev, err, tc.want)
		}
	}
	ev, err := d.FromMap(map[string]any{"ts": time.UnixMilli(base).UTC(), "id": int64(1)}, "")
	if err != nil || ev.Time != base {
		t.Errorf("time.Time field: %+v, %v", ev, err)
	}
	for _, ts := range []any{json.Number("1795169045000"), int64(base), int(base)} {
		if ev, err := d.FromMap(map[string]any{"ts": ts}, "p"); err != nil || ev.Time != base {
			t.Errorf("ts %#v: %+v, %v", ts, ev, err)
		}
	}
	if _, err := d.FromMap(map[string]any{"ts": json.Number("1.5")}, "p"); ReasonOf(err) != ReasonBadTime {
		t.Errorf("json.Number 1.5: %v", err)
	}
	if _, err := d.FromMap(map[string]any{"ts": int64(math.MaxInt64)}, "p"); ReasonOf(err) != ReasonBadTime {
		t.Errorf("MaxInt64 ms: %v", err)
	}
	if _, err := d.FromMap(map[string]any{"ts": 0.0, "id": []byte("x")}, "p"); ReasonOf(err) != ReasonBadID {
		t.Errorf("[]byte id: %v", err)
	}
}

// nest returns an object nested depth levels deep, ending in a time.
func nest(depth int) string {
	return `{"ts":0,"a":` + strings.Repeat(`{"b":`, depth-2) + `[1]` + strings.Repeat(`}`, depth-2) + `}`
}

func TestDecodeLimits(t *testing.T) {
	small := `{"ts":0,"pad":"xxxxxxxxxx"}`
	tests := []struct {
		name   string
		d      Decoder
		in     string
		reason string
	}{
		{"at the size limit", Decoder{MaxSize: len(small)}, small, ""},
		{"one byte over", Decoder{MaxSize: len(small) - 1}, small, ReasonTooLarge},
		{"size checked before parsing", Decoder{MaxSize: 4}, `not json at all`, ReasonTooLarge},
		{"default size: 1 MiB fits", Decoder{}, `{"ts":0,"p":"` + strings.Repeat("x", DefaultMaxSize-15) + `"}`, ""},
		{"default size: 1 MiB + 1 does not", Decoder{}, `{"ts":0,"p":"` + strings.Repeat("x", DefaultMaxSize-14) + `"}`, ReasonTooLarge},
		{"negative size means default", Decoder{MaxSize: -1}, small, ""},
		{"flat object is depth 1", Decoder{MaxDepth: 1}, `{"ts":0,"a":1}`, ""},
		{"depth 2 over a limit of 1", Decoder{MaxDepth: 1}, `{"ts":0,"a":[]}`, ReasonTooDeep},
		{"at the depth limit", Decoder{MaxDepth: 5}, nest(5), ""},
		{"one level over", Decoder{MaxDepth: 4}, nest(5), ReasonTooDeep},
		{"default depth 32 fits", Decoder{}, nest(DefaultMaxDepth), ""},
		{"default depth: 33 does not", Decoder{}, nest(DefaultMaxDepth + 1), ReasonTooDeep},
		{"brackets in strings do not nest", Decoder{MaxDepth: 1}, `{"ts":0,"a":"[[[{{{","b":"}}]]"}`, ""},
		{"escaped quotes stay in the string", Decoder{MaxDepth: 1}, `{"ts":0,"a":"\"[[[\\","b":"\\\"{{"}`, ""},
		{"siblings do not add up", Decoder{MaxDepth: 2}, `{"ts":0,"a":[1],"b":{"c":2},"d":[]}`, ""},
		{"deep garbage is too deep, not malformed", Decoder{MaxDepth: 3}, strings.Repeat("[", 1000), ReasonTooDeep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check(t, &tc.d, tc.in, tc.reason, 0, "src:7")
		})
	}
	t.Run("sizes", func(t *testing.T) {
		// Guard the arithmetic of the 1 MiB cases above.
		if n := len(`{"ts":0,"p":"` + strings.Repeat("x", DefaultMaxSize-15) + `"}`); n != DefaultMaxSize {
			t.Fatalf("1 MiB case is %d bytes", n)
		}
		if d := nestingDepth([]byte(nest(7))); d != 7 {
			t.Fatalf("nest(7) = %s nests %d levels", nest(7), d)
		}
	})
}

func TestDecodeNotAnObject(t *testing.T) {
	tests := []struct {
		name, in, inMsg string
	}{
		{"array", `[{"ts":0}]`, "array"},
		{"empty array", `[]`, "array"},
		{"null", `null`, "null"},
		{"number", `42`, "number"},
		{"string", `"{\"ts\":0}"`, "string"},
		{"bool", `true`, "bool"},
		{"empty input", ``, "unexpected end"},
		{"whitespace only", " \n\t", "unexpected end"},
		{"truncated", `{"ts":0,"a":`, "unexpected end"},
		{"unclosed string", `{"ts":"2026`, "unexpected end"},
		{"trailing garbage", `{"ts":0} x`, "invalid character"},
		{"two objects", `{"ts":0}{"ts":1}`, "invalid character"},
		{"NDJSON is not one object", "{\"ts\":0}\n{\"ts\":1}\n", "invalid character"},
		{"single quotes", `{'ts':0}`, "invalid character"},
		{"trailing comma", `{"ts":0,}`, "invalid character"},
		{"unquoted key", `{ts:0}`, "invalid character"},
		{"NaN", `{"ts":NaN}`, "invalid character"},
		{"comment", `{"ts":0} // x`, "invalid character"},
		{"bad escape", `{"ts":0,"a":"\x"}`, "invalid character"},
	}
	var d Decoder
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check(t, &d, tc.in, ReasonMalformed, 0, "")
			_, err := d.Decode([]byte(tc.in), "p")
			if !strings.Contains(err.Error(), tc.inMsg) {
				t.Errorf("message %q does not mention %q", err, tc.inMsg)
			}
		})
	}
	// Accepted: surrounding whitespace, a BOM-free object with unicode.
	check(t, &d, " \n{\"ts\":0,\"name\":\"\\u00fc\\ud83d\\ude00\"}\r\n", "", 0, "src:7")
}

func TestDecodeFields(t *testing.T) {
	var d Decoder
	ev, err := d.Decode([]byte(`{"ts":1795169045000,"id":"e","amount":12.5,"n":3,"merchant":{"country":"NG"},"tags":["a",1],"ok":true,"none":null}`), "p")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"ts": 1795169045000.0, "id": "e", "amount": 12.5, "n": 3.0,
		"merchant": map[string]any{"country": "NG"}, "tags": []any{"a", 1.0}, "ok": true, "none": nil,
	}
	if !reflect.DeepEqual(ev.Fields, want) {
		t.Errorf("Fields = %v\nwant     %v", ev.Fields, want)
	}
	if ev.Seq != 0 {
		t.Errorf("Seq %d: the engine assigns it", ev.Seq)
	}
}

func TestProcessingTime(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 4, 5, 123_999_999, time.FixedZone("X", 3600))
	d := Decoder{ProcessingTime: true, Now: func() time.Time { return now }}
	want := now.UnixMilli() // 10:04:05.123 in +01:00
	if want != base-3600_000+123 {
		t.Fatalf("test arithmetic: %d", want)
	}
	for _, in := range []string{
		`{"id":"a"}`,          // no time field at all
		`{"id":"a","ts":"x"}`, // an invalid one is ignored
		`{"id":"a","ts":0}`,   // and so is a valid one
	} {
		check(t, &d, in, "", want, "a")
	}
	// Everything else is still checked.
	check(t, &d, `[]`, ReasonMalformed, 0, "")
	check(t, &d, `{"id":false}`, ReasonBadID, 0, "")

	// Without Now, the wall clock.
	d = Decoder{ProcessingTime: true}
	before := time.Now().UnixMilli()
	ev, err := d.Decode([]byte(`{}`), "p")
	after := time.Now().UnixMilli()
	if err != nil || ev.Time < before || ev.Time > after || ev.ID != "p" {
		t.Errorf("wall clock: %+v, %v (between %d and %d)", ev, err, before, after)
	}
}

func TestReasonOf(t *testing.T) {
	var d Decoder
	_, err := d.Decode([]byte(`{}`), "p")
	var ee *Error
	if !errors.As(err, &ee) || ee.Reason != ReasonNoTime || ee.Msg != err.Error() {
		t.Fatalf("error %#v", err)
	}
	if r := ReasonOf(fmt.Errorf("source x: %w", err)); r != ReasonNoTime {
		t.Errorf("wrapped: %q", r)
	}
	if r := ReasonOf(errors.New("boom")); r != "error" {
		t.Errorf("foreign error: %q", r)
	}
}

func TestFormatParseTime(t *testing.T) {
	tests := []struct {
		ms   int64
		text string
	}{
		{0, "1970-01-01T00:00:00.000Z"},
		{base, "2026-11-20T10:04:05.000Z"},
		{base + 7, "2026-11-20T10:04:05.007Z"},
		{base + 999, "2026-11-20T10:04:05.999Z"},
		{-1, "1969-12-31T23:59:59.999Z"},
		{-1000, "1969-12-31T23:59:59.000Z"},
		{951782400000, "2000-02-29T00:00:00.000Z"},
		{-62167219200000, "0000-01-01T00:00:00.000Z"},
		{253402300799999, "9999-12-31T23:59:59.999Z"},
	}
	for _, tc := range tests {
		if got := FormatTime(tc.ms); got != tc.text {
			t.Errorf("FormatTime(%d) = %q, want %q", tc.ms, got, tc.text)
		}
		if got, err := ParseTime(tc.text); err != nil || got != tc.ms {
			t.Errorf("ParseTime(%q) = %d, %v; want %d", tc.text, got, err, tc.ms)
		}
		// The decoder reads what FormatTime writes.
		if got, err := TimeValue(tc.text); err != nil || got != tc.ms {
			t.Errorf("TimeValue(%q) = %d, %v; want %d", tc.text, got, err, tc.ms)
		}
	}
	// Round trips over the whole representable range.
	x := uint64(99)
	for range 20000 {
		x = x*6364136223846793005 + 1442695040888963407
		ms := minTime + int64(x>>1%uint64(maxTime-minTime+1))
		if got, err := ParseTime(FormatTime(ms)); err != nil || got != ms {
			t.Fatalf("ParseTime(FormatTime(%d)) = %d, %v", ms, got, err)
		}
	}

	parse := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1795169045123", base + 123, true}, // Unix ms, as --until takes
		{"-5", -5, true},
		{"+5", 5, true},
		{"2026-11-20T10:04:05Z", base, true},
		{"2026-11-20T11:04:05.123456+01:00", base + 123, true},
		{"2026-11-20T10:04:05.123456789Z", base + 123, true},
		{"", 0, false},
		{"1.5", 0, false},
		{"2026-11-20", 0, false},
		{"now", 0, false},
	}
	for _, tc := range parse {
		got, err := ParseTime(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseTime(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestBefore(t *testing.T) {
	a := &Event{Time: 1, Seq: 5}
	b := &Event{Time: 2, Seq: 1}
	c := &Event{Time: 2, Seq: 2}
	if !a.Before(b) || b.Before(a) || !b.Before(c) || c.Before(b) || c.Before(c) {
		t.Error("Before does not order by time, then arrival")
	}
}

// seeds for FuzzDecode: valid and invalid events.
var fuzzSeeds = []string{
	`{"ts":"2026-11-20T10:04:05.123Z","id":"a","amount":1.5}`,
	`{"ts":1795169045123,"id":42}`,
	`{"ts":"2026-11-20T12:04:05.123456789+02:00"}`,
	`{"ts":-62167219200000,"id":9007199254740993}`,
	`{"ts":253402300799999,"id":-1234567890123456789}`,
	`{"ts":253402300800000}`,
	`{"ts":1795169045123.5}`,
	`{"ts":1e300,"id":1e300}`,
	`{"ts":"9999-12-31T23:59:59-01:00"}`,
	`{"ts":"yesterday"}`,
	`{"ts":null,"id":"x"}`,
	`{"ts":0,"id":true}`,
	`{"ts":0,"id":{"a":[1,{"b":"]"}]}}`,
	`{"ts":0,"id":""}`,
	`{"ts":0,"a":"\"[[\\"}`,
	`{"ts":0,"merchant":{"country":"NG","tags":[1,2,[3,[4]]]}}`,
	`[{"ts":0}]`,
	`null`,
	`42`,
	`"x"`,
	``,
	`{"ts":0`,
	`{"ts":0}{"ts":1}`,
	strings.Repeat("[", 40) + strings.Repeat("]", 40),
	`{"ts":0,"d":` + strings.Repeat(`{"a":`, 31) + `1` + strings.Repeat(`}`, 31) + `}`,
	"{\"ts\":0,\"s\":\"\xff\xfe\"}",
}

// FuzzDecode checks that Decode never panics and either rejects an input
// with a known reason and a message, or returns an event with a time that
// survives FormatTime/ParseTime, an id and fields.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	decoders := []*Decoder{{}, {MaxSize: 64, MaxDepth: 3, TimeField: "t", IDField: "i"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range decoders {
			ev, err := d.Decode(data, "fuzz:1")
			if err != nil {
				if ev != nil {
					t.Fatalf("event and error: %v", err)
				}
				if r := ReasonOf(err); !knownReasons[r] {
					t.Fatalf("unknown reason %q: %v", r, err)
				}
				if err.Error() == "" {
					t.Fatal("empty message")
				}
				continue
			}
			if ev == nil || ev.Fields == nil {
				t.Fatalf("no event, no error: %+v", ev)
			}
			if ev.ID == "" {
				t.Fatal("empty id")
			}
			text := FormatTime(ev.Time)
			if back, err := ParseTime(text); err != nil || back != ev.Time {
				t.Fatalf("time %d formats as %q, which parses as %d, %v", ev.Time, text, back, err)
			}
			if back, err := TimeValue(text); err != nil || back != ev.Time {
				t.Fatalf("time %d formats as %q, which the decoder reads as %d, %v", ev.Time, text, back, err)
			}
			if len(data) > d.MaxSize && d.MaxSize > 0 {
				t.Fatalf("accepted %d bytes over a limit of %d", len(data), d.MaxSize)
			}
		}
	})
}

func ExampleDecoder_Decode() {
	d := Decoder{} // defaults: time in "ts", id in "id", 1 MiB, depth 32
	for i, line := range []string{
		`{"ts":"2026-11-20T11:04:05.123456+01:00","id":"tx-1","amount":12.5}`,
		`{"ts":1795169045500,"card_id":"c-9"}`,
		`{"ts":"yesterday","id":"tx-3"}`,
		`[1,2,3]`,
	} {
		ev, err := d.Decode([]byte(line), fmt.Sprintf("events.ndjson:%d", i+1))
		if err != nil {
			fmt.Printf("rejected (%s): %v\n", ReasonOf(err), err)
			continue
		}
		fmt.Println(ev.ID, FormatTime(ev.Time), ev.Time)
	}
	// Output:
	// tx-1 2026-11-20T10:04:05.123Z 1795169045123
	// events.ndjson:2 2026-11-20T10:04:05.500Z 1795169045500
	// rejected (bad_time): time field "ts": "yesterday" is not an RFC 3339 time
	// rejected (malformed): not a JSON object: a JSON array
}
