// Package api is vigil's HTTP API: event ingestion, alert
// history, health. It knows nothing of Kafka or SQLite: the service hands it
// small functions and interfaces.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/store"
)

// AlertReader answers alert history queries (the embedded store, later
// ClickHouse).
type AlertReader interface {
	Query(ctx context.Context, q store.Query) (store.Page, error)
	Get(ctx context.Context, id string) (cep.Alert, bool, error)
}

// Ingester takes a batch of raw events (each a JSON text) and reports, per
// index, the ones it rejected. An error means it took none of them (the
// engine is full, or stopping): the client may send the batch again.
type Ingester interface {
	Ingest(ctx context.Context, items []json.RawMessage) ([]Rejected, error)
}

// Rejected is one item of a POST /v1/events that was not accepted.
type Rejected struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// Server serves the API.
type Server struct {
	Ingest Ingester
	Alerts AlertReader
	Ready  func(ctx context.Context) error // nil means always ready; Readiness, when set, answers instead
	// Readiness answers GET /readyz (a report per component), and Metrics
	// GET /metrics, when set.
	Readiness   http.Handler
	Metrics     http.Handler
	MaxBodySize int64
	MaxItems    int // events in one POST; default 10000
	Logger      *slog.Logger
	// Rules, when set, serves /v1/rules and /v1/lists.
	Rules RulesAdmin
	// MaxListSize bounds a PUT /v1/lists body; default 256 MiB.
	MaxListSize int64
	// Tokens, when any, guard every /v1/ endpoint (see authenticate).
	Tokens []Token
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/events", s.postEvents)
	mux.HandleFunc("GET /v1/alerts", s.listAlerts)
	mux.HandleFunc("GET /v1/alerts/{id}", s.getAlert)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	if s.Readiness != nil {
		mux.Handle("GET /readyz", s.Readiness)
	} else {
		mux.HandleFunc("GET /readyz", s.readyz)
	}
	s.routeRules(mux)
	routes := map[string]string{"/v1/events": "POST", "/v1/alerts": "GET", "/healthz": "GET", "/readyz": "GET"}
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
		routes["/metrics"] = "GET"
	}
	if s.Rules != nil {
		routes["/v1/rules"] = "GET, PUT"
		routes["/v1/rules/validate"] = "POST"
		routes["/v1/rules/reload"] = "POST"
		routes["/v1/rules/versions"] = "GET"
		routes["/v1/lists"] = "GET"
		routes["/v1/lists/*"] = "GET, PUT, DELETE"
		routes["/v1/rules/*"] = "GET"
		routes["/v1/rules/versions/*"] = "GET"
		routes["/v1/rules/rollback/*"] = "POST"
	}
	routes["/v1/alerts/*"] = "GET"
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		allow, ok := routes[r.URL.Path]
		if !ok {
			// A path with a last segment of its own ({name}, {id}, {v}).
			if i := strings.LastIndexByte(r.URL.Path, '/'); i > 0 && i < len(r.URL.Path)-1 {
				allow, ok = routes[r.URL.Path[:i]+"/*"]
			}
		}
		if ok {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, allow))
			return
		}
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	})
	return s.authenticate(mux)
}

// errorBody is every error response: {"error":{"code","message","details"}}.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details []any  `json:"details,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string, details ...any) {
	var b errorBody
	b.Error.Code, b.Error.Message, b.Error.Details = code, msg, details
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// postEvents accepts one JSON object, a JSON array of objects, or NDJSON.
// Valid events are accepted even when others in the batch are rejected.
func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) {
	max := s.MaxBodySize
	if max <= 0 {
		max = 16 << 20
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large",
				fmt.Sprintf("request body is over the limit of %d bytes; send smaller batches", max))
			return
		}
		writeError(w, http.StatusBadRequest, "bad_body", "reading the request body: "+err.Error())
		return
	}
	maxItems := s.MaxItems
	if maxItems <= 0 {
		maxItems = 10000
	}
	items, err := splitItems(body, maxItems)
	var tooMany *tooManyError
	if errors.As(err, &tooMany) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_many_events",
			fmt.Sprintf("more than %d events in one request; send smaller batches", maxItems))
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_json", err.Error())
		return
	}
	if len(items) == 0 {
		writeError(w, http.StatusBadRequest, "no_events", "the body holds no events: send a JSON object, an array of objects, or NDJSON")
		return
	}
	rejected, err := s.Ingest.Ingest(r.Context(), items)
	if err != nil {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "unavailable", "no event was accepted: "+err.Error()+"; send the batch again")
		return
	}
	if rejected == nil {
		rejected = []Rejected{}
	}
	status := http.StatusOK
	if len(rejected) == len(items) {
		status = http.StatusBadRequest // nothing accepted: say so in the status too
	}
	writeJSON(w, status, map[string]any{"accepted": len(items) - len(rejected), "rejected": rejected})
}

// tooManyError is a body holding more events than allowed.
type tooManyError struct{}

func (*tooManyError) Error() string { return "too many events" }

// splitItems finds the events of a body: a JSON array's elements, a single
// JSON value (pretty-printed or not), or one value per line (NDJSON). A
// malformed NDJSON line stays an item, so it is rejected on its own. It
// counts events, not lines, and stops with a *tooManyError at the first
// event over max, before keeping more: a body of many tiny items costs no
// memory beyond the limit.
func splitItems(body []byte, max int) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, nil
	}
	if trimmed[0] == '[' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("the body starts as a JSON array but is not one: %v", err)
		}
		var items []json.RawMessage
		for dec.More() {
			if len(items) == max {
				return nil, &tooManyError{}
			}
			var item json.RawMessage
			if err := dec.Decode(&item); err != nil {
				return nil, fmt.Errorf("the body starts as a JSON array but is not one: %v", err)
			}
			items = append(items, item)
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("the body starts as a JSON array but is not one: %v", err)
		}
		if rest := bytes.TrimSpace(trimmed[dec.InputOffset():]); len(rest) > 0 {
			return nil, fmt.Errorf("the body starts as a JSON array but is not one: text after its end")
		}
		return items, nil
	}
	if json.Valid(trimmed) {
		return []json.RawMessage{trimmed}, nil
	}
	var items []json.RawMessage
	for len(trimmed) > 0 {
		line := trimmed
		if i := bytes.IndexByte(trimmed, '\n'); i >= 0 {
			line, trimmed = trimmed[:i], trimmed[i+1:]
		} else {
			trimmed = nil
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			if len(items) == max {
				return nil, &tooManyError{}
			}
			items = append(items, json.RawMessage(line))
		}
	}
	return items, nil
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) {
	q, err := store.ParseQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_argument", err.Error())
		return
	}
	page, err := s.Alerts.Query(r.Context(), q)
	if err != nil {
		if errors.Is(err, store.ErrBadCursor) {
			writeError(w, http.StatusBadRequest, "invalid_argument", err.Error())
			return
		}
		s.log().Error("alert query", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "querying alerts failed")
		return
	}
	alerts := page.Alerts
	if alerts == nil {
		alerts = []cep.Alert{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": alerts, "next_cursor": page.NextCursor})
}

func (s *Server) getAlert(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a, ok, err := s.Alerts.Get(r.Context(), id)
	if err != nil {
		s.log().Error("alert lookup", "id", id, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "reading the alert failed")
		return
	}
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no alert with id %q", id))
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			writeError(w, http.StatusServiceUnavailable, "not_ready", err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}
