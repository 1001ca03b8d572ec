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
				if err := f.Write(ctx, a); err != nil {
					t.Fatalf("Write(%s) = %v", a.ID, err)
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
			if err := f.Write(ctx, a); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Close = %v; want ErrClosed", err)
			}
		})
	}
}

func TestFileLineIsAlertJSON(t *testing.T) {
	var buf bytes.Buffer
	f := NewFile(&buf)
	a := testAlert("a1", "card-1")
	if err := f.Write(context.Background(), a); err != nil {
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
				if err := f.Write(context.Background(), a); err != nil {
					t.Errorf("Write(%s) = %v", a.ID, err)
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
		if err := f.Write(ctx, testAlert(id, "k")); err != nil {
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
	if err := f.Write(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(ctx, b); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Write on a failing writer = %v; want disk full", err)
	}
	// The failed alert was not recorded as written: writing it again works,
	// on a line of its own.
	if err := f.Write(ctx, b); err != nil {
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
