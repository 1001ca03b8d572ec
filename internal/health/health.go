// Package health answers /healthz and /readyz: each part of the service
// registers a check under its name, and readiness reports every part
// with its state and, when it is not ready, why.
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// States of a component.
const (
	Ready    = "ready"
	NotReady = "not_ready"
)

// Check tells whether a component is ready: nil, or why not.
type Check func(ctx context.Context) error

// Component is one part's state in a report.
type Component struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

// Report is the body of /readyz.
type Report struct {
	Status     string      `json:"status"`
	Components []Component `json:"components"`
}

// Registry holds the components' checks, in the order registered. It is
// safe for concurrent use: a part may register when it starts, as
// sources and sinks do.
type Registry struct {
	mu     sync.Mutex
	names  []string
	checks map[string]Check
	// Timeout bounds each check (default 2s): a check that does not
	// answer in time is not ready.
	Timeout time.Duration
}

// Register adds a component, or replaces the check of one already
// registered under name. Names are short and stable, "kind/name" for
// parts there may be several of: "rules", "store", "sink/webhook",
// "source/kafka", "clickhouse".
func (r *Registry) Register(name string, check Check) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checks == nil {
		r.checks = map[string]Check{}
	}
	if _, ok := r.checks[name]; !ok {
		r.names = append(r.names, name)
	}
	r.checks[name] = check
}

// Unregister removes a component.
func (r *Registry) Unregister(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.checks[name]; !ok {
		return
	}
	delete(r.checks, name)
	for i, n := range r.names {
		if n == name {
			r.names = append(r.names[:i], r.names[i+1:]...)
			break
		}
	}
}

// Check runs every check, concurrently, and reports them in the order
// registered. The status is ready when every component is.
func (r *Registry) Check(ctx context.Context) Report {
	r.mu.Lock()
	names := append([]string(nil), r.names...)
	checks := make([]Check, len(names))
	for i, n := range names {
		checks[i] = r.checks[n]
	}
	timeout := r.Timeout
	r.mu.Unlock()
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rep := Report{Status: Ready, Components: make([]Component, len(names))}
	var wg sync.WaitGroup
	for i := range names {
		wg.Go(func() {
			c := Component{Name: names[i], State: Ready}
			done := make(chan error, 1)
			go func() { done <- checks[i](ctx) }()
			var err error
			select {
			case err = <-done:
			case <-ctx.Done():
				err = context.Cause(ctx)
			}
			if err != nil {
				c.State, c.Reason = NotReady, err.Error()
			}
			rep.Components[i] = c
		})
	}
	wg.Wait()
	for _, c := range rep.Components {
		if c.State != Ready {
			rep.Status = NotReady
		}
	}
	return rep
}

// ReadyHandler serves /readyz: the report as JSON, 200 when ready and 503
// when not.
func (r *Registry) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rep := r.Check(req.Context())
		status := http.StatusOK
		if rep.Status != Ready {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, rep)
	})
}

// LiveHandler serves /healthz: the process answers, so it is alive.
func LiveHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
