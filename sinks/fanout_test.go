package sinks

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/cep"
)

func TestFanoutRoles(t *testing.T) {
	normal := testAlert("n1", "card-1")
	shadow := testAlert("s1", "card-1")
	shadow.Shadow = true
	suppressed := testAlert("t1", "card-1")
	suppressed.Suppressed = true
	both := testAlert("b1", "card-1")
	both.Shadow, both.Suppressed = true, true

	tests := []struct {
		alert       cep.Alert
		wantHistory bool
		wantAction  bool
	}{
		{normal, true, true},
		{shadow, true, false},
		{suppressed, true, false},
		{both, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.alert.ID, func(t *testing.T) {
			var history, store, action bytes.Buffer
			r := newReceiver(t, nil)
			hook := newTestWebhook(t, WebhookConfig{URL: r.srv.URL})
			f := NewFanout(
				Target{"history", History, NewFile(&history)},
				Target{"store", History, NewFile(&store)},
				Target{"action-file", Action, NewFile(&action)},
				Target{"webhook", Action, hook},
			)
			if err := f.Write(context.Background(), tt.alert); err != nil {
				t.Fatalf("Write = %v", err)
			}
			if err := f.Close(context.Background()); err != nil {
				t.Fatalf("Close = %v", err)
			}
			for _, c := range []struct {
				name string
				got  bool
				want bool
			}{
				{"history", history.Len() > 0, tt.wantHistory},
				{"store", store.Len() > 0, tt.wantHistory},
				{"action file", action.Len() > 0, tt.wantAction},
				{"webhook", hook.Stats().Delivered == 1, tt.wantAction},
			} {
				if c.got != c.want {
					t.Errorf("%s got the alert: %v; want %v", c.name, c.got, c.want)
				}
			}
		})
	}
}

// logWriter records, under its name, each write to it, and fails them if
// fail is set.
type logWriter struct {
	name string
	log  *[]string
	fail bool
}

func (w logWriter) Write(p []byte) (int, error) {
	*w.log = append(*w.log, w.name)
	if w.fail {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestFanoutOrderAndErrors(t *testing.T) {
	var log []string
	down := newReceiver(t, func(int, cep.Alert) int { return http.StatusServiceUnavailable })
	hook := newTestWebhook(t, WebhookConfig{URL: down.srv.URL})
	f := NewFanout(
		Target{"a", History, NewFile(logWriter{name: "a", log: &log})},
		Target{"full", History, NewFile(logWriter{name: "full", log: &log, fail: true})},
		Target{"b", History, NewFile(logWriter{name: "b", log: &log})},
		Target{"webhook", Action, hook},
	)
	err := f.Write(context.Background(), testAlert("x", "k"))
	if err == nil || !strings.HasPrefix(err.Error(), "sink full: ") || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Write = %v; want sink full: … disk full", err)
	}
	if want := []string{"a", "full"}; !reflect.DeepEqual(log, want) {
		t.Errorf("writes = %q; want %q (in order, stopping at the error)", log, want)
	}
	if err := f.Write(context.Background(), testAlert("y", "k")); err == nil {
		t.Fatal("second Write = nil; want the disk full error again")
	}

	// Close closes every sink, despite errors, and names those that fail:
	// the webhook cannot deliver z (its receiver is down) before ctx ends.
	if err := hook.Write(context.Background(), testAlert("z", "k")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = f.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "sink webhook: ") {
		t.Errorf("Close = %v; want an error from sink webhook", err)
	}
	for _, name := range []string{"a", "b"} {
		if err := f.targets[indexOfTarget(f, name)].Sink.WriteBatch(context.Background(), []cep.Alert{testAlert("w", "k")}); !errors.Is(err, ErrClosed) {
			t.Errorf("after Close, Write to %s = %v; want ErrClosed", name, err)
		}
	}
}

func indexOfTarget(f *Fanout, name string) int {
	for i, t := range f.targets {
		if t.Name == name {
			return i
		}
	}
	return -1
}

// recordSink records the ids of each WriteBatch call and fails the calls
// with err, if set.
type recordSink struct {
	err   error
	calls [][]string
}

func (s *recordSink) WriteBatch(_ context.Context, alerts []cep.Alert) error {
	s.calls = append(s.calls, idsOf(alerts))
	return s.err
}

func (s *recordSink) Close(context.Context) error { return nil }

// History targets get every batch whole; action targets get the alerts
// neither shadow nor suppressed, in order, and no call when there are none.
func TestFanoutWriteBatchRoles(t *testing.T) {
	alert := func(id string, shadow, suppressed bool) cep.Alert {
		a := testAlert(id, "card-1")
		a.Shadow, a.Suppressed = shadow, suppressed
		return a
	}
	history, action, store := &recordSink{}, &recordSink{}, &recordSink{}
	f := NewFanout(Target{"history", History, history}, Target{"action", Action, action}, Target{"store", History, store})
	batches := [][]cep.Alert{
		{alert("n1", false, false), alert("s1", true, false), alert("n2", false, false),
			alert("t1", false, true), alert("b1", true, true), alert("n3", false, false)},
		{alert("n4", false, false), alert("n5", false, false)},
		{alert("s2", true, false), alert("t2", false, true)},
		{},
	}
	for _, batch := range batches {
		before := slices.Clone(batch)
		if err := f.WriteBatch(context.Background(), batch); err != nil {
			t.Fatalf("WriteBatch(%q) = %v", idsOf(batch), err)
		}
		if !reflect.DeepEqual(batch, before) {
			t.Errorf("WriteBatch changed its argument")
		}
	}
	wantHistory := [][]string{{"n1", "s1", "n2", "t1", "b1", "n3"}, {"n4", "n5"}, {"s2", "t2"}}
	for name, s := range map[string]*recordSink{"history": history, "store": store} {
		if !reflect.DeepEqual(s.calls, wantHistory) {
			t.Errorf("%s got %q; want %q", name, s.calls, wantHistory)
		}
	}
	if want := [][]string{{"n1", "n2", "n3"}, {"n4", "n5"}}; !reflect.DeepEqual(action.calls, want) {
		t.Errorf("action got %q; want %q", action.calls, want)
	}
}

// The first failing target stops the fan-out, named in the error; an
// action target with nothing to write is not called, so cannot fail.
func TestFanoutWriteBatchStopsAtFailingTarget(t *testing.T) {
	errDown := errors.New("broker down")
	first, down, last := &recordSink{}, &recordSink{err: errDown}, &recordSink{}
	f := NewFanout(Target{"store", History, first}, Target{"kafka", Action, down}, Target{"file", History, last})
	batch := testAlerts(3, 2)
	err := f.WriteBatch(context.Background(), batch)
	if !errors.Is(err, errDown) || !strings.HasPrefix(err.Error(), "sink kafka: ") {
		t.Errorf("WriteBatch = %v; want sink kafka: … wrapping %v", err, errDown)
	}
	want := [][]string{idsOf(batch)}
	if !reflect.DeepEqual(first.calls, want) || !reflect.DeepEqual(down.calls, want) || len(last.calls) != 0 {
		t.Errorf("calls: store %q, kafka %q, file %q; want %q, %q and none", first.calls, down.calls, last.calls, want, want)
	}

	shadow := testAlert("s1", "k")
	shadow.Shadow = true
	if err := f.WriteBatch(context.Background(), []cep.Alert{shadow}); err != nil {
		t.Errorf("WriteBatch(shadow only) = %v; want nil (the failing action target is skipped)", err)
	}
	if got := last.calls; !reflect.DeepEqual(got, [][]string{{"s1"}}) {
		t.Errorf("file got %q; want [[s1]]", got)
	}
}

// Through real sinks: repeats within and across batches are written once.
func TestFanoutWriteBatchDedupe(t *testing.T) {
	var history, action bytes.Buffer
	f := NewFanout(Target{"history", History, NewFile(&history)}, Target{"action", Action, NewFile(&action)})
	alerts := testAlerts(6, 2)
	alerts[4].Shadow = true
	ctx := context.Background()
	for _, batch := range [][]cep.Alert{
		{alerts[0], alerts[1], alerts[0]},
		{alerts[1], alerts[2], alerts[3], alerts[4], alerts[2]},
		{alerts[5], alerts[4], alerts[0]},
	} {
		if err := f.WriteBatch(ctx, batch); err != nil {
			t.Fatalf("WriteBatch(%q) = %v", idsOf(batch), err)
		}
	}
	closeSink(t, f)
	if got, want := idsOf(readNDJSON(t, history.Bytes())), idsOf(alerts); !slices.Equal(got, want) {
		t.Errorf("history = %q; want %q", got, want)
	}
	if got, want := idsOf(readNDJSON(t, action.Bytes())), []string{"a000", "a001", "a002", "a003", "a005"}; !slices.Equal(got, want) {
		t.Errorf("action = %q; want %q", got, want)
	}
}
