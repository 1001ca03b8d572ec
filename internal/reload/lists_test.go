package reload

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestParseList(t *testing.T) {
	cases := []struct {
		body string
		want []any  // sorted values
		err  string // substring of a *BadListError
	}{
		{`["b", "a", 2, 1.5, true, "a"]`, []any{"a", "b", 1.5, 2.0, true}, ""},
		{"# cards\ncard-1\n  card-2  \n\n#card-3\ncard-1\n", []any{"card-1", "card-2"}, ""},
		{"", []any{}, ""},
		{"[]", []any{}, ""},
		{"  [1, 2]  ", []any{1.0, 2.0}, ""},
		{`[{"a":1}]`, nil, "item 0: list values must be strings, numbers or booleans, got an object"},
		{`[1, null]`, nil, "item 1: list values must be strings, numbers or booleans, got null"},
		{`[[1]]`, nil, "got an array"},
		{`[1, 2`, nil, "does not end"},
		{`[1] [2]`, nil, "text after the array"},
		{`[1,]`, nil, "item 1"},
	}
	for _, tc := range cases {
		set, err := ParseList([]byte(tc.body))
		if tc.err != "" {
			var bad *BadListError
			if !errors.As(err, &bad) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v; want %q", tc.body, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.body, err)
			continue
		}
		if got := sortedValues(set); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q: %v; want %v", tc.body, got, tc.want)
		}
	}
}

// BenchmarkListMillion measures a list of 1,000,000 card numbers as the
// engine holds it: bytes per entry, and the cost of `x in lists.name`'s
// lookup (a map: O(1) whatever the size).
func BenchmarkListMillion(b *testing.B) {
	var body strings.Builder
	for i := 0; i < 1_000_000; i++ {
		fmt.Fprintf(&body, "4000%012d\n", i)
	}
	data := []byte(body.String())
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	set, err := ParseList(data)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := float64(after.HeapAlloc-before.HeapAlloc) / float64(len(set))
	keys := []any{"4000000000123456", "4000000000999999", "5000000000000000"}
	b.ResetTimer()
	hits := 0
	for i := 0; i < b.N; i++ {
		if _, ok := set[keys[i%len(keys)]]; ok {
			hits++
		}
	}
	b.ReportMetric(perEntry, "bytes/entry")
	runtime.KeepAlive(data)
	if hits == 0 {
		b.Fatal("no hits")
	}
}

func TestParseListRefusesJSONThatIsNotAnArray(t *testing.T) {
	for _, body := range []string{`{"a":1}`, `null`, " {\n\"x\": [1]}\n"} {
		var bad *BadListError
		if _, err := ParseList([]byte(body)); !errors.As(err, &bad) {
			t.Errorf("%q: %v; want a BadListError", body, err)
		}
	}
	set, err := ParseList([]byte("\xef\xbb\xbf[\"a\"]"))
	if _, ok := set["a"]; err != nil || !ok || len(set) != 1 {
		t.Errorf("a JSON array after a byte-order mark: %v %v", set, err)
	}
	set, _ = ParseList([]byte("\xef\xbb\xbfcard-1\n4111\n"))
	if _, ok := set["card-1"]; !ok || len(set) != 2 {
		t.Errorf("a text list after a byte-order mark: %v", set)
	}
}
