package sinks

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"reflect"
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
		if err := f.targets[indexOfTarget(f, name)].Sink.Write(context.Background(), testAlert("w", "k")); !errors.Is(err, ErrClosed) {
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
