package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestReadyHandler(t *testing.T) {
	for _, tc := range []struct {
		name   string
		checks map[string]error
		status int
		want   string
	}{
		{"none", nil, 200, `{"status":"ready","components":[]}`},
		{"all ready", map[string]error{"a": nil}, 200, `{"status":"ready","components":[{"name":"a","state":"ready"}]}`},
		{"one down", map[string]error{"a": errors.New("down")}, 503,
			`{"status":"not_ready","components":[{"name":"a","state":"not_ready","reason":"down"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Registry
			for n, err := range tc.checks {
				r.Register(n, func(context.Context) error { return err })
			}
			rec := httptest.NewRecorder()
			r.ReadyHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			var got, want any
			_ = json.Unmarshal(rec.Body.Bytes(), &got)
			_ = json.Unmarshal([]byte(tc.want), &want)
			if rec.Code != tc.status || !jsonEqual(got, want) {
				t.Errorf("readyz = %d %s; want %d %s", rec.Code, rec.Body, tc.status, tc.want)
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// A check that hangs is reported not ready once the timeout passes, and
// the others are still reported.
func TestCheckTimeout(t *testing.T) {
	r := Registry{Timeout: 50 * time.Millisecond}
	block := make(chan struct{})
	defer close(block)
	r.Register("slow", func(context.Context) error { <-block; return nil })
	r.Register("fast", func(context.Context) error { return nil })
	r.Register("gone", func(context.Context) error { return nil })
	r.Unregister("gone")
	rep := r.Check(context.Background())
	if rep.Status != NotReady || len(rep.Components) != 2 || rep.Components[0].State != NotReady ||
		rep.Components[0].Reason != context.DeadlineExceeded.Error() || rep.Components[1] != (Component{Name: "fast", State: Ready}) {
		t.Errorf("Check = %+v; want slow not ready (deadline exceeded), fast ready", rep)
	}
	if rec := httptest.NewRecorder(); true {
		LiveHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != http.StatusOK {
			t.Errorf("healthz = %d", rec.Code)
		}
	}
}
