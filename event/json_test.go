package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// The decoder of json.go against encoding/json, the reference it must match.

// decodeOld is Decode as it was before json.go: a nesting scan, then
// json.Unmarshal, then FromMap, and a second json.Unmarshal for ids beyond
// 2^53. It is the reference of the differential tests and the "before" of
// BenchmarkDecode.
func decodeOld(d *Decoder, data []byte, pos string) (*Event, error) {
	maxSize := d.MaxSize
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if len(data) > maxSize {
		return nil, reject(ReasonTooLarge, "event is %d bytes, over the limit of %d", len(data), maxSize)
	}
	maxDepth := d.MaxDepth
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	fields, err := unmarshalOld(data, maxDepth)
	if err != nil {
		return nil, err
	}
	ev, err := d.FromMap(fields, pos)
	if err != nil {
		return nil, err
	}
	if f, ok := fields[d.idField()].(float64); ok && math.Abs(f) >= 1<<53 {
		if lit := integerLiteral(data, d.idField()); lit != "" {
			ev.ID = lit
		}
	}
	return ev, nil
}

// unmarshalOld is the JSON step of decodeOld.
func unmarshalOld(data []byte, maxDepth int) (map[string]any, error) {
	if depth := nestingDepth(data); depth > maxDepth {
		return nil, reject(ReasonTooDeep, "event nests %d levels, over the limit of %d", depth, maxDepth)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, reject(ReasonMalformed, "not a JSON object: %s", jsonErrorText(err))
	}
	if fields == nil {
		return nil, reject(ReasonMalformed, "not a JSON object: null")
	}
	return fields, nil
}

func jsonErrorText(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return "a JSON " + typeErr.Value
	}
	return err.Error()
}

// integerLiteral returns the text of the top-level field name of the JSON
// object data when it is an integer literal, or "".
func integerLiteral(data []byte, name string) string {
	var raw map[string]json.RawMessage
	if json.Unmarshal(data, &raw) != nil {
		return ""
	}
	lit := strings.TrimSpace(string(raw[name]))
	digits := strings.TrimPrefix(lit, "-")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return ""
	}
	return lit
}

// sameJSON is reflect.DeepEqual for decoded JSON, stricter on numbers: the
// bits of the float64 must be equal (so -0 is not 0). JSON has no NaN.
func sameJSON(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || a == nil || b == nil || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !sameJSON(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || a == nil || b == nil || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameJSON(a[i], b[i]) {
				return false
			}
		}
		return true
	case float64:
		b, ok := b.(float64)
		return ok && math.Float64bits(a) == math.Float64bits(b)
	default:
		return reflect.DeepEqual(a, b)
	}
}

// stdObject is what json.Unmarshal makes of data as a map[string]any, with
// null (which it accepts) as an error.
func stdObject(data []byte) (map[string]any, error) {
	var m map[string]any
	err := json.Unmarshal(data, &m)
	if err == nil && m == nil {
		err = errors.New("null")
	}
	return m, err
}

// compareStd decodes data with the new decoder with a depth limit of
// maxDepth and checks it against encoding/json. It returns the new
// decoder's outcome.
func compareStd(t *testing.T, data []byte, maxDepth int) (map[string]any, error) {
	t.Helper()
	p := jsonParser{idKey: "id"}
	got, err := p.decodeObject(data, maxDepth)
	want, werr := stdObject(data)
	var ee *Error
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%q: error %T %v is not an *Error", data, err, err)
	}
	if err == nil && got == nil {
		t.Fatalf("%q: nil map and nil error", data)
	}
	if err != nil && got != nil {
		t.Fatalf("%q: map and error %v", data, err)
	}
	deep := nestingDepth(data) > maxDepth
	if err != nil {
		switch ee.Reason {
		case ReasonTooDeep:
			// Only when the input really nests that deep (nestingDepth is
			// exact on the valid prefix the decoder stopped in).
			if !deep {
				t.Fatalf("%q: %v, but it nests %d levels only", data, err, nestingDepth(data))
			}
			return got, err
		case ReasonMalformed:
			if !strings.HasPrefix(ee.Msg, "not a JSON object: ") {
				t.Fatalf("%q: message %q", data, ee.Msg)
			}
			if !strings.Contains(ee.Msg, " at offset ") && !strings.HasPrefix(ee.Msg, "not a JSON object: a JSON ") && ee.Msg != "not a JSON object: null" {
				t.Fatalf("%q: message %q has no offset", data, ee.Msg)
			}
		default:
			t.Fatalf("%q: reason %q: %v", data, ee.Reason, err)
		}
	}
	if deep && werr == nil {
		t.Fatalf("%q: valid and %d levels deep, over %d, but decoded as %v, %v", data, nestingDepth(data), maxDepth, got, err)
	}
	switch {
	case (err == nil) != (werr == nil):
		t.Fatalf("%q:\n got %#v, %v\nwant %#v, %v", data, got, err, want, werr)
	case err == nil && !sameJSON(got, want):
		t.Fatalf("%q:\n got %#v\nwant %#v", data, got, want)
	case err == nil:
		// The literal kept for large ids is what the old second pass found.
		if f, ok := got["id"].(float64); ok {
			if lit, old := integerText(p.idLit), integerLiteral(data, "id"); lit != old {
				t.Fatalf("%q: id %v: literal %q, want %q", data, f, lit, old)
			}
		}
	}
	return got, err
}

// jsonCases are tricky inputs, checked against encoding/json.
var jsonCases = []struct {
	in   string
	ok   bool   // json.Unmarshal accepts it
	want string // a substring of the message, if not ok
}{
	// Values of every kind.
	{`{}`, true, ""},
	{`{"a":{}, "b":[], "c":[[]], "d":[{}]}`, true, ""},
	{`{"a":true,"b":false,"c":null,"d":"s","e":1,"f":[true,false,null,"x",-1.5e-3,{"g":[]}]}`, true, ""},
	{`{"a":{"b":{"c":{"d":[1,[2,[3,{"e":"f"}]]]}}}}`, true, ""},
	// Duplicate keys: the last wins, also across types.
	{`{"a":1,"a":2}`, true, ""},
	{`{"a":{"x":1},"a":[1]}`, true, ""},
	{`{"id":123456789012345678901,"id":"s"}`, true, ""},
	{`{"id":"s","id":123456789012345678901}`, true, ""},
	{`{"id":12345678901234567890,"id":12345678901234567891.5}`, true, ""},
	// Whitespace: space, tab, CR, LF only.
	{" \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n[ \t\r\n1 \t\r\n, \t\r\n2 \t\r\n] \t\r\n} \t\r\n", true, ""},
	{"{\"a\":1}\f", false, "invalid character"},
	{"\v{}", false, "invalid character"},
	{"{\u00a0}", false, "invalid character"},
	{"\ufeff{}", false, "invalid character"},
	// Numbers.
	{`{"a":0,"b":-0,"c":0.0,"d":-0.0,"e":0e0,"f":-0E-0}`, true, ""},
	{`{"a":1e308,"b":-1e308,"c":1.7976931348623157e308,"d":4.9e-324,"e":1e-400,"f":-1e-400}`, true, ""},
	{`{"a":0.0000001,"b":123456789012345678901234567890,"c":1E+2,"d":1e-2,"e":9007199254740993}`, true, ""},
	{`{"a":999999999999999,"b":-999999999999999,"c":1000000000000000,"d":99999999999999999}`, true, ""},
	{`{"a":0.1,"b":0.2,"c":2.2250738585072011e-308,"d":1.00000000000000011102230246251565404236316680908203125}`, true, ""},
	{`{"a":1e309}`, false, "out of range"},
	{`{"a":-1e309}`, false, "out of range"},
	{`{"a":1.8e308}`, false, "out of range"},
	{`{"a":` + strings.Repeat("9", 400) + `}`, false, "out of range"},
	{`{"a":01}`, false, "invalid character '1'"},
	{`{"a":-01}`, false, "invalid character '1'"},
	{`{"a":00}`, false, "invalid character"},
	{`{"a":+1}`, false, "invalid character '+'"},
	{`{"a":.5}`, false, "invalid character '.'"},
	{`{"a":5.}`, false, "invalid character '}' after decimal point"},
	{`{"a":5.e3}`, false, "invalid character 'e'"},
	{`{"a":1e}`, false, "in exponent"},
	{`{"a":1e+}`, false, "in exponent"},
	{`{"a":1E-x}`, false, "in exponent"},
	{`{"a":-}`, false, "in numeric literal"},
	{`{"a":--1}`, false, "in numeric literal"},
	{`{"a":1.5.5}`, false, "invalid character '.'"},
	{`{"a":0x10}`, false, "invalid character 'x'"},
	{`{"a":Infinity}`, false, "invalid character 'I'"},
	{`{"a":-Infinity}`, false, "invalid character 'I'"},
	{`{"a":1e309,"b":}`, false, "invalid character '}'"}, // syntax first
	// Strings.
	{`{"a":"\"\\\/\b\f\n\r\t"}`, true, ""},
	{`{"a":"\u0000\u001f\u0041\u00e9\u20AC\uFFFF\uffFe"}`, true, ""},
	{`{"a":"\ud83d\ude00","b":"x\uD83D\uDE00y"}`, true, ""},
	{`{"a":"\ud800","b":"\udc00","c":"\ud800x","d":"\ud800\u0041","e":"\udc00\ud800","f":"\ud800\ud800\udc00"}`, true, ""},
	{`{"a":"\ud800\\","b":"\ud800\n","c":"\ud800\"","d":"\ud800\u00"}`, false, "hexadecimal"},
	{`{"\ud83d\ude00":1,"\ud800":2,"":3}`, true, ""},
	{"{\"a\":\"\xff\",\"b\":\"x\xc3\",\"c\":\"\xc3\x28\",\"d\":\"\xed\xa0\x80\",\"e\":\"\xf4\x90\x80\x80\",\"f\":\"\xc0\xaf\"}", true, ""},
	{"{\"\xfe\xff\":\"\xef\xbf\xbd\",\"k\\n\xff\":\"\xe2\x82\xac\\u00e9\xe2\x82\"}", true, ""},
	{"{\"a\":\"é€😀\"}", true, ""},
	{"{\"a\":\"\x7f\"}", true, ""},
	{"{\"a\":\"\x1f\"}", false, "in string literal"},
	{"{\"a\":\"\t\"}", false, "in string literal"},
	{"{\"a\":\"\n\"}", false, "in string literal"},
	{"{\"a\":\"\x00\"}", false, "in string literal"},
	{`{"a":"\x"}`, false, "in string escape code"},
	{`{"a":"\'"}`, false, "in string escape code"},
	{`{"a":"\U0041"}`, false, "in string escape code"},
	{`{"a":"\u004"}`, false, "hexadecimal"},
	{`{"a":"\u00g1"}`, false, "hexadecimal"},
	{`{"a":"\`, false, "unexpected end"},
	{`{"a":"\u00`, false, "unexpected end"},
	{`{"a":"\ud800\u`, false, "unexpected end"},
	{`{"a":"abc`, false, "unexpected end"},
	{"{\"a\":\"abc\xc3", false, "unexpected end"},
	// Literals.
	{`{"a":tru}`, false, "in literal true"},
	{`{"a":nul`, false, "unexpected end"},
	{`{"a":True}`, false, "invalid character 'T'"},
	{`{"a":falsey}`, false, "invalid character 'y'"},
	{`{"a":nulll}`, false, "invalid character 'l'"},
	// Structure.
	{`{"a" 1}`, false, "after object key"},
	{`{"a":1 "b":2}`, false, "after object key:value pair"},
	{`{"a":1,}`, false, "looking for beginning of object key string"},
	{`{,}`, false, "looking for beginning of object key string"},
	{`{1:1}`, false, "looking for beginning of object key string"},
	{`{"a":[1,]}`, false, "looking for beginning of value"},
	{`{"a":[,1]}`, false, "looking for beginning of value"},
	{`{"a":[1 2]}`, false, "after array element"},
	{`{"a":[1}`, false, "after array element"},
	{`{"a":{]}`, false, "looking for beginning of object key string"},
	{`{"a":}`, false, "looking for beginning of value"},
	{`{"a"`, false, "unexpected end"},
	{`{"a":`, false, "unexpected end"},
	{`{"a":[`, false, "unexpected end"},
	{`{"a":[1`, false, "unexpected end"},
	{`{"a":[1,`, false, "unexpected end"},
	{`{"a":1`, false, "unexpected end"},
	{`{"a":1,`, false, "unexpected end"},
	{`{`, false, "unexpected end"},
	{`{ `, false, "unexpected end"},
	{``, false, "unexpected end"},
	{` `, false, "unexpected end"},
	// Trailing data.
	{`{} x`, false, "invalid character 'x' after top-level value at offset 3"},
	{`{}}`, false, "after top-level value"},
	{`{}{}`, false, "after top-level value"},
	{`{} {}`, false, "after top-level value"},
	{"{}\x00", false, "invalid character '\\x00' after top-level value"},
	{`{"a":1}]`, false, "after top-level value"},
	// Not an object.
	{`[]`, false, "not a JSON object: a JSON array"},
	{`[1e309]`, false, "not a JSON object: a JSON array"},
	{`[1,]`, false, "looking for beginning of value"},
	{`"{}"`, false, "not a JSON object: a JSON string"},
	{`"\ud800"`, false, "not a JSON object: a JSON string"},
	{`0`, false, "not a JSON object: a JSON number"},
	{`1e309`, false, "not a JSON object: a JSON number"},
	{`-`, false, "unexpected end"},
	{`true`, false, "not a JSON object: a JSON bool"},
	{` false `, false, "not a JSON object: a JSON bool"},
	{`null`, false, "not a JSON object: null"},
	{` null `, false, "not a JSON object: null"},
	{`null x`, false, "after top-level value"},
	{`nul`, false, "unexpected end"},
	{`}`, false, "invalid character '}' looking for beginning of value at offset 0"},
	{`x`, false, "looking for beginning of value"},
}

func TestDecodeJSON(t *testing.T) {
	for _, tc := range jsonCases {
		t.Run(fmt.Sprintf("%.40q", tc.in), func(t *testing.T) {
			_, err := compareStd(t, []byte(tc.in), DefaultMaxDepth)
			if (err == nil) != tc.ok {
				t.Fatalf("%q: error %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%q: message %q does not contain %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestDecodeJSONValues(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]any
	}{
		{`{"a":"\ud83d\ude00\ud800\u0041\udc00"}`, map[string]any{"a": "😀\uFFFDA\uFFFD"}},
		{`{"a":"\ud800\ud800\udc00"}`, map[string]any{"a": "\uFFFD\U00010000"}},
		{"{\"a\":\"x\xffy\xed\xa0\x80\"}", map[string]any{"a": "x\uFFFDy\uFFFD\uFFFD\uFFFD"}},
		{`{"a":-0,"b":1e-400,"c":[],"d":{},"a":-0.0}`, map[string]any{"a": math.Copysign(0, -1), "b": 0.0, "c": []any{}, "d": map[string]any{}}},
		{`{"n":123456789012345678901234567890}`, map[string]any{"n": 1.2345678901234568e29}},
	}
	for _, tc := range tests {
		var p jsonParser
		got, err := p.decodeObject([]byte(tc.in), DefaultMaxDepth)
		if err != nil || !sameJSON(got, tc.want) {
			t.Errorf("%q: %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
}

func TestDecodeJSONDepth(t *testing.T) {
	// At the limit, over it, and far over it: the decoder stops at the
	// first level over the limit (no recursion into a hostile input), and
	// the message gives the input's whole depth, as before.
	for _, tc := range []struct {
		in      string
		limit   int
		reason  string
		message string
	}{
		{nest(5), 5, "", ""},
		{nest(6), 5, ReasonTooDeep, "event nests 6 levels, over the limit of 5"},
		{`{"a":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, 32, ReasonTooDeep, "event nests 5001 levels, over the limit of 32"},
		{`{"a":` + strings.Repeat("[", 1e6), 32, ReasonTooDeep, "event nests 1000001 levels, over the limit of 32"},
		{`{"a":` + strings.Repeat(`{"b":`, 1e5), 32, ReasonTooDeep, "event nests 100001 levels, over the limit of 32"},
		{strings.Repeat("[", 1000), 3, ReasonTooDeep, "event nests 1000 levels, over the limit of 3"},
		// Garbage before the deep part: malformed (the old nesting scan
		// ran first and said too deep).
		{`{"a":x` + strings.Repeat("[", 100), 3, ReasonMalformed, "invalid character 'x'"},
		// encoding/json's own limit of 10000 holds whatever MaxDepth says.
		{`{"a":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`, 1e9, "", ""},
		{`{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, 1e9, ReasonMalformed, "exceeded max depth of 10000 at offset 10004"},
		{`{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, 10000, ReasonTooDeep, "event nests 10001 levels, over the limit of 10000"},
	} {
		var p jsonParser
		_, err := p.decodeObject([]byte(tc.in), tc.limit)
		if ReasonOf(err) != tc.reason && !(err == nil && tc.reason == "") {
			t.Errorf("%.30q (limit %d): %v (%s), want %q", tc.in, tc.limit, err, ReasonOf(err), tc.reason)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%.30q (limit %d): message %q, want %q", tc.in, tc.limit, err, tc.message)
		}
		if tc.limit <= jsonMaxNesting {
			compareStd(t, []byte(tc.in), tc.limit)
		}
	}
}

// jsonSeeds seed FuzzDecodeJSON; fuzzSeeds (decode_test.go) and the inputs
// of TestDecodeJSON are added to them.
var jsonSeeds = []string{
	`{"ts":"2026-11-20T10:04:05.123Z","id":"tx-1","amount":12.5,"currency":"EUR","merchant":{"id":"m-9","name":"Caf\u00e9 \"Le Z\u00e8bre\"","mcc":5812,"country":"FR","geo":{"lat":48.8566,"lon":2.3522}},"card":{"bin":"411111","last4":"1111"},"tags":["a","b",["c",{"d":null}]],"ok":true,"flag":false,"none":null}`,
	`{"a":[[[[[[[[[[]]]]]]]]]],"b":{"c":{"d":{"e":{"f":{}}}}}}`,
	`{"a":[],"b":[[],[[]]],"c":[{},{"x":[]}]}`,
	`{"e":"\"\\\/\b\f\n\r\t\u0000\u001F\u007f\u0080\u07FF\u0800\uFFFF"}`,
	`{"s":"\uD834\uDD1E","t":"\uDD1E\uD834","u":"\uD834","v":"\uD834\uD834\uDD1E","w":"\uD834x","x":"\uD834\\u1234"}`,
	"{\"bad\":\"\xff\xfe\xfd\",\"trunc\":\"\xe2\x82\",\"sur\":\"\xed\xb0\x80\",\"over\":\"\xf8\x88\x80\x80\x80\",\"ok\":\"\xf0\x9f\x98\x80\"}",
	"{\"\xff\":1,\"\xff\":2}",
	`{"n":[1e308,1e309,-0,0.0000001,123456789012345678901234567890]}`,
	`{"n":[1e308,-0,0.0000001,123456789012345678901234567890,-1E-7,5e-324,2e-324,1e-400,0.1e1,1.5E+10]}`,
	`{"n":[0,-0,0.0,-0.0,0e0,0E+0,0e-0,10,100,9007199254740992,9007199254740993,18446744073709551616]}`,
	`{"id":12345678901234567890123}`,
	`{"id":-1e20}`,
	`{"id":"x","id":99999999999999999999}`,
	`{"n":01}`, `{"n":+1}`, `{"n":.5}`, `{"n":5.}`, `{"n":1e}`, `{"n":1e+}`, `{"n":-}`, `{"n":1.e5}`,
	" \t\n\r{ \t\n\r\"a\" \t\n\r: \t\n\r[ \t\n\r1 \t\n\r, \t\n\r{ } \t\n\r] \t\n\r} \t\n\r",
	"{\"a\":1}\f", "\u00a0{}", "{\"a\":\"\t\"}",
	`{"a":[1,2,3`, `{"a":{"b":"c`, `{"a":"\u12`, `{"a":tr`, `{"a":nul`, `{"a":fals`, `{"a"`, `{"a":`, `{`,
	`{} x`, `{}}`, `{"a":1},`, `{"a":1}{"b":2}`, "{}\n{}", `{}]`,
	`[]`, `[1,2]`, `"s"`, `1`, `-1.5e3`, `true`, `false`, `null`, ` null `, `[1,]`, `"\x"`, `nul`,
	`{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":1}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}`,
	`{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":1}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}`,
	`{"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[","b":"\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}`,
}

// FuzzDecodeJSON checks the decoder of json.go against json.Unmarshal: on
// every input both fail, or both succeed with the same map. Within the depth
// limit the comparison is exact; over it, a valid input must be rejected as
// too deep. Decode is also compared with the old Decode (decodeOld).
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, tc := range jsonCases {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte(benchSmall))
	f.Add([]byte(benchLarge))
	decoders := []*Decoder{{}, {MaxDepth: 3, TimeField: "t", IDField: "i"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		compareStd(t, data, DefaultMaxDepth)
		compareStd(t, data, 3)
		compareStd(t, data, jsonMaxNesting) // the whole of encoding/json
		for _, d := range decoders {
			maxDepth := d.MaxDepth
			if maxDepth == 0 {
				maxDepth = DefaultMaxDepth
			}
			if nestingDepth(data) > maxDepth {
				continue // the old Decode said too deep before parsing
			}
			ev, err := d.Decode(data, "fuzz:1")
			old, oerr := decodeOld(d, data, "fuzz:1")
			if ReasonOf(err) != ReasonOf(oerr) || (err == nil) != (oerr == nil) {
				t.Fatalf("%q: Decode: %v (%s); old Decode: %v (%s)", data, err, ReasonOf(err), oerr, ReasonOf(oerr))
			}
			if err == nil && (ev.ID != old.ID || ev.Time != old.Time || !sameJSON(ev.Fields, old.Fields)) {
				t.Fatalf("%q: Decode: %+v; old Decode: %+v", data, ev, old)
			}
		}
	})
}

// benchSmall is a typical payment event (about 300 bytes).
const benchSmall = `{"ts":"2026-11-20T10:04:05.123Z","id":"tx-7f3a9c21","type":"payment","amount":129.95,"currency":"EUR","card_id":"c-4111-0042","account":"acc-88213","merchant":{"id":"m-5521","name":"Café Central","mcc":5812,"country":"FR","city":"Paris"},"channel":"ecom","three_ds":true,"risk":0.12}`

// benchLarge is a larger event (about 2 KB) with arrays.
var benchLarge = func() string {
	var b strings.Builder
	b.WriteString(`{"ts":1795169045123,"id":"tx-0b1c2d3e4f","type":"payment","amount":2318.4,"currency":"USD","card_id":"c-5500-0099","account":"acc-10293",`)
	b.WriteString(`"merchant":{"id":"m-77","name":"Electronics \"Mega\" Store","mcc":5732,"country":"US","city":"San Jose","geo":{"lat":37.3382,"lon":-121.8863}},`)
	b.WriteString(`"items":[`)
	for i := range 10 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%05d","name":"Item number %d with a longer description","qty":%d,"price":%d.99,"tags":["electronics","sale","gift"]}`, 10000+i*7, i, i%3+1, 10+i*37)
	}
	b.WriteString(`],"history":[1795169040000,1795169041000,1795169042000,1795169043000,1795169044000,1795169045000],`)
	b.WriteString(`"scores":[0.12,0.5,0.99,0.0001,12.5,-3.25],"flags":[true,false,null,true],"device":{"os":"iOS","version":"17.2.1","ip":"203.0.113.7","user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X)"},`)
	b.WriteString(`"note":"line one\nline two\t\u00e9\u20ac","three_ds":true,"risk":0.82}`)
	return b.String()
}()

func TestBenchEvents(t *testing.T) {
	for _, in := range []string{benchSmall, benchLarge} {
		var d Decoder
		if _, err := d.Decode([]byte(in), "p"); err != nil {
			t.Fatal(err)
		}
		compareStd(t, []byte(in), DefaultMaxDepth)
	}
	t.Logf("sizes: %d and %d bytes", len(benchSmall), len(benchLarge))
}

// BenchmarkDecode compares the old path (nesting scan + json.Unmarshal) and
// the decoder of json.go, on the JSON step alone and on the whole Decode.
func BenchmarkDecode(b *testing.B) {
	for _, ev := range []struct{ name, data string }{{"small", benchSmall}, {"large", benchLarge}} {
		data := []byte(ev.data)
		b.Run(ev.name+"/json/old", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := unmarshalOld(data, DefaultMaxDepth); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(ev.name+"/json/new", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var p jsonParser
				if _, err := p.decodeObject(data, DefaultMaxDepth); err != nil {
					b.Fatal(err)
				}
			}
		})
		var d Decoder
		b.Run(ev.name+"/Decode/old", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeOld(&d, data, "p"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(ev.name+"/Decode/new", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.Decode(data, "p"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
