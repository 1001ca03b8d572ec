package sinks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/vigilhq/vigil/cep"
)

// readNDJSON decodes one alert a line.
func readNDJSON(t *testing.T, data []byte) []cep.Alert {
	t.Helper()
	var as []cep.Alert
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var a cep.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("line %q is not an alert: %v", sc.Text(), err)
		}
		as = append(as, a)
	}
	return as
}

func TestFile(t *testing.T) {
	ctx := context.Background()
	a, b := testAlert("a1", "card-1"), testAlert("b2", "card-2")
	shadow := testAlert("s3", "card-1")
	shadow.Shadow = true
	tests := []struct {
		name   string
		writes []cep.Alert
		want   []string // ids, in file order
	}{
		{"one", []cep.Alert{a}, []string{"a1"}},
		{"in order", []cep.Alert{a, b, shadow}, []string{"a1", "b2", "s3"}},
		{"dedupe", []cep.Alert{a, b, a, a, b}, []string{"a1", "b2"}},
		{"no id is never deduplicated", []cep.Alert{testAlert("", "k"), testAlert("", "k")}, []string{"", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			f := NewFile(&buf)
			for _, a := range tt.writes {
				if err := f.WriteBatch(ctx, []cep.Alert{a}); err != nil {
					t.Fatalf("WriteBatch(%s) = %v", a.ID, err)
				}
			}
			// Flushed per Write: everything is there before Close.
			got := readNDJSON(t, buf.Bytes())
			var ids []string
			for _, a := range got {
				ids = append(ids, a.ID)
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("ids in file = %q; want %q", ids, tt.want)
			}
			if err := f.Close(ctx); err != nil {
				t.Errorf("Close() = %v", err)
			}
			if err := f.WriteBatch(ctx, []cep.Alert{a}); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Close = %v; want ErrClosed", err)
			}
		})
	}
}

func TestFileLineIsAlertJSON(t *testing.T) {
	var buf bytes.Buffer
	f := NewFile(&buf)
	a := testAlert("a1", "card-1")
	if err := f.WriteBatch(context.Background(), []cep.Alert{a}); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(a)
	if got := buf.String(); got != string(want)+"\n" {
		t.Errorf("file = %s; want %s and a newline", got, want)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "rule", "rule_version", "key", "time", "detected_at", "shadow", "suppressed", "matched"} {
		if _, ok := m[k]; !ok {
			t.Errorf("alert JSON has no %q: %s", k, buf.Bytes())
		}
	}
}

func TestFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.ndjson")
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	alerts := testAlerts(200, 7)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			// Every writer writes every alert, in a different order.
			for i := range alerts {
				a := alerts[(i+w*25)%len(alerts)]
				if err := f.WriteBatch(context.Background(), []cep.Alert{a}); err != nil {
					t.Errorf("WriteBatch(%s) = %v", a.ID, err)
				}
			}
		})
	}
	wg.Wait()
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, a := range readNDJSON(t, data) {
		count[a.ID]++
	}
	for _, a := range alerts {
		if count[a.ID] != 1 {
			t.Errorf("alert %s is in the file %d times; want 1", a.ID, count[a.ID])
		}
	}
	if len(count) != len(alerts) {
		t.Errorf("file has %d ids; want %d", len(count), len(alerts))
	}
}

func TestOpenFileAppends(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alerts.ndjson")
	for _, id := range []string{"a1", "b2"} {
		f, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.WriteBatch(ctx, []cep.Alert{testAlert(id, "k")}); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(path)
	if got := len(readNDJSON(t, data)); got != 2 {
		t.Errorf("after two opens, %d alerts in file; want 2", got)
	}
	if _, err := OpenFile(filepath.Join(path, "not-a-dir", "x")); err == nil {
		t.Error("OpenFile(under a file) = nil error; want one")
	}
}

// flakyWriter fails the writes whose numbers are in fail, after writing
// half of the data.
type flakyWriter struct {
	buf  bytes.Buffer
	n    int
	fail map[int]bool
}

func (w *flakyWriter) Write(p []byte) (int, error) {
	w.n++
	if w.fail[w.n] {
		half := len(p) / 2
		w.buf.Write(p[:half])
		return half, errors.New("disk full")
	}
	return w.buf.Write(p)
}

func TestFileRecoversFromWriteError(t *testing.T) {
	ctx := context.Background()
	w := &flakyWriter{fail: map[int]bool{2: true}}
	f := NewFile(w)
	a, b := testAlert("a1", "k"), testAlert("b2", "k")
	if err := f.WriteBatch(ctx, []cep.Alert{a}); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteBatch(ctx, []cep.Alert{b}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Write on a failing writer = %v; want disk full", err)
	}
	// The failed alert was not recorded as written: writing it again works,
	// on a line of its own.
	if err := f.WriteBatch(ctx, []cep.Alert{b}); err != nil {
		t.Fatalf("Write after the writer recovered = %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(w.buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("file has %d lines; want 3 (a1, a partial line, b2):\n%s", len(lines), w.buf.String())
	}
	for i, want := range map[int]string{0: "a1", 2: "b2"} {
		var got cep.Alert
		if err := json.Unmarshal([]byte(lines[i]), &got); err != nil || got.ID != want {
			t.Errorf("line %d = %q (%v); want alert %s", i, lines[i], err, want)
		}
	}
}

// countingWriter counts the writes to it.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// A batch is one write, in order; repeats within and across batches are
// skipped, and a batch with nothing new writes nothing.
func TestFileWriteBatch(t *testing.T) {
	ctx := context.Background()
	w := &countingWriter{}
	f := NewFile(w)
	alerts := testAlerts(5, 2)
	noID := testAlert("", "k")
	tests := []struct {
		batch      []cep.Alert
		wantWrites int // in all, so far
	}{
		{[]cep.Alert{alerts[0], alerts[1], alerts[0]}, 1},
		{[]cep.Alert{alerts[1], alerts[2], noID, alerts[3], noID, alerts[2]}, 2},
		{[]cep.Alert{alerts[3], alerts[0]}, 2},
		{nil, 2},
		{[]cep.Alert{alerts[4], alerts[1]}, 3},
	}
	for _, tt := range tests {
		if err := f.WriteBatch(ctx, tt.batch); err != nil {
			t.Fatalf("WriteBatch(%q) = %v", idsOf(tt.batch), err)
		}
		if w.writes != tt.wantWrites {
			t.Errorf("after WriteBatch(%q): %d writes; want %d", idsOf(tt.batch), w.writes, tt.wantWrites)
		}
	}
	want := []string{"a000", "a001", "a002", "", "a003", "", "a004"}
	if got := idsOf(readNDJSON(t, w.Bytes())); !reflect.DeepEqual(got, want) {
		t.Errorf("ids in file = %q; want %q", got, want)
	}
	closeSink(t, f)
}

// shortWriter writes at most limit bytes of its first write, then fails it.
type shortWriter struct {
	bytes.Buffer
	limit int // < 0: no limit
}

func (w *shortWriter) Write(p []byte) (int, error) {
	if w.limit >= 0 && len(p) > w.limit {
		n, _ := w.Buffer.Write(p[:w.limit])
		w.limit = -1
		return n, errors.New("disk full")
	}
	return w.Buffer.Write(p)
}

// A batch cut short counts the alerts written whole as written: writing
// the batch again writes the rest, from a fresh line.
func TestFileWriteBatchCutShort(t *testing.T) {
	ctx := context.Background()
	alerts := testAlerts(4, 2)
	line, _ := json.Marshal(alerts[0]) // every line is as long
	w := &shortWriter{limit: 2*(len(line)+1) + len(line)/2}
	f := NewFile(w)
	if err := f.WriteBatch(ctx, alerts); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("WriteBatch on a failing writer = %v; want disk full", err)
	}
	if err := f.WriteBatch(ctx, alerts); err != nil {
		t.Fatalf("WriteBatch again = %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(w.String(), "\n"), "\n")
	want := []string{"a000", "a001", "", "a002", "a003"} // "": the partial line
	if len(lines) != len(want) {
		t.Fatalf("file has %d lines; want %d:\n%s", len(lines), len(want), w.String())
	}
	for i, id := range want {
		var a cep.Alert
		err := json.Unmarshal([]byte(lines[i]), &a)
		if id == "" && err == nil || id != "" && (err != nil || a.ID != id) {
			t.Errorf("line %d = %q (%v); want alert %q", i, lines[i], err, id)
		}
	}
}

// The sinks encode with a.MarshalJSON, skipping json.Marshal's pass over
// its output: the bytes must be the same, awkward values included.
func TestFileLineIsJSONMarshal(t *testing.T) {
	a := testAlert("a1", "<k&y>")
	a.Summary = "<script>\u2028&\u2029 \"quoted\" \x01"
	a.Fields = map[string]any{"raw": json.RawMessage(` { "x" : [1, 2] } `), "html": "<b>"}
	var buf bytes.Buffer
	f := NewFile(&buf)
	if err := f.WriteBatch(context.Background(), []cep.Alert{a}); err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != string(want)+"\n" {
		t.Errorf("line = %s; want %s", got, want)
	}
}
