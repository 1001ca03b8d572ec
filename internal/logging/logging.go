// Package logging builds vigil's structured logger: log/slog, text on a
// terminal and JSON otherwise (or as configured), with repeats of one
// message rate-limited so an outage does not flood the log.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// The keys every log line uses for these things, so a search for one
// alert, rule or partition finds every line about it.
const (
	KeyRule      = "rule"
	KeyKey       = "key"
	KeyPartition = "partition"
	KeyAlertID   = "alert_id"
	KeyErr       = "err"
)

// Options configure a logger.
type Options struct {
	Level  string // debug | info (default) | warn | error
	Format string // auto (default: text on a terminal, JSON otherwise) | text | json
	// Repeats is how many records with the same level and message pass in
	// each Window (default 5 per 10s); the rest are dropped, and the
	// first to pass after says how many with "dropped". Negative: no limit.
	Repeats int
	Window  time.Duration
}

// New returns a logger writing to w.
func New(w io.Writer, o Options) (*slog.Logger, error) {
	var level slog.Level
	if o.Level != "" {
		if err := level.UnmarshalText([]byte(o.Level)); err != nil {
			return nil, fmt.Errorf("logging.level: unknown level %q", o.Level)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch o.Format {
	case "", "auto":
		if isTerminal(w) {
			h = slog.NewTextHandler(w, opts)
		} else {
			h = slog.NewJSONHandler(w, opts)
		}
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("logging.format: want auto, text or json, got %q", o.Format)
	}
	if o.Repeats >= 0 {
		h = RateLimit(h, max(o.Repeats, 0), o.Window, time.Now)
	}
	return slog.New(h), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// RateLimit wraps h so that at most n records with the same level and
// message pass per window (defaults 5 and 10s when n or window is 0). The
// first record to pass after some were dropped carries "dropped": how
// many.
func RateLimit(h slog.Handler, n int, window time.Duration, now func() time.Time) slog.Handler {
	if n <= 0 {
		n = 5
	}
	if window <= 0 {
		window = 10 * time.Second
	}
	return &limiter{Handler: h, s: &limitState{n: n, window: window, now: now, seen: map[string]*repeat{}}}
}

type limiter struct {
	slog.Handler
	s *limitState
}

type limitState struct {
	n      int
	window time.Duration
	now    func() time.Time
	mu     sync.Mutex
	seen   map[string]*repeat
}

type repeat struct {
	start   time.Time
	passed  int
	dropped int
}

// maxTracked bounds the messages remembered; log messages are constant
// strings, so this is only reached by a message built from data.
const maxTracked = 1024

func (l *limiter) Handle(ctx context.Context, r slog.Record) error {
	s := l.s
	k := r.Level.String() + "\x00" + r.Message
	now := s.now()
	s.mu.Lock()
	rep := s.seen[k]
	if rep == nil || now.Sub(rep.start) >= s.window {
		dropped := 0
		if rep != nil {
			dropped = rep.dropped
		}
		if len(s.seen) >= maxTracked {
			clear(s.seen)
		}
		s.seen[k] = &repeat{start: now, passed: 1}
		s.mu.Unlock()
		if dropped > 0 {
			r = r.Clone()
			r.AddAttrs(slog.Int("dropped", dropped))
		}
		return l.Handler.Handle(ctx, r)
	}
	if rep.passed < s.n {
		rep.passed++
		s.mu.Unlock()
		return l.Handler.Handle(ctx, r)
	}
	rep.dropped++
	s.mu.Unlock()
	return nil
}

func (l *limiter) WithAttrs(as []slog.Attr) slog.Handler {
	return &limiter{Handler: l.Handler.WithAttrs(as), s: l.s}
}

func (l *limiter) WithGroup(name string) slog.Handler {
	return &limiter{Handler: l.Handler.WithGroup(name), s: l.s}
}
