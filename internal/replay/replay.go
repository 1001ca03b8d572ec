// Package replay runs a ruleset over an NDJSON file of events with the
// production engine, writing alerts and dead letters as NDJSON. It backs
// `vigil replay` and the events_file of `vigil test`.
package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/ndjson"
	"github.com/vigilhq/vigil/rules"
)

// Options configure a replay.
type Options struct {
	// Until is the final watermark; zero: the end of time, so every window
	// closes and every pending absence is confirmed.
	Until          time.Time
	OutOfOrderness time.Duration
	Decoder        event.Decoder
	// OnAlert receives each alert.
	OnAlert func(cep.Alert) error
	// OnReject receives each rejected line: malformed, too large, late.
	OnReject func(Rejected) error
	// OnProgress, when set, is called now and then with the bytes read.
	OnProgress func(bytesRead int64)
}

// Rejected is an input line that was not matched, and why. It is also the
// dead-letter record.
type Rejected struct {
	Source string `json:"source"`
	Line   int    `json:"line"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
	Raw    string `json:"raw"`
}

// Summary counts what a replay did.
type Summary struct {
	Lines      int
	Processed  uint64
	Rejected   map[string]int
	Alerts     int
	Suppressed int
	Rules      map[string]cep.RuleStats
}

// RejectedTotal is the number of rejected lines.
func (s Summary) RejectedTotal() int {
	n := 0
	for _, c := range s.Rejected {
		n += c
	}
	return n
}

// Runner runs a ruleset over a stream of raw events with the production
// engine: Feed each event in order, then Finish. Replay reads a file
// through it, and backtests read stored history.
type Runner struct {
	eng  *cep.Engine
	dec  event.Decoder
	sum  Summary
	opts Options
}

// NewRunner starts a run of rs.
func NewRunner(rs *rules.Ruleset, opts Options) (*Runner, error) {
	r := &Runner{dec: opts.Decoder, opts: opts, sum: Summary{Rejected: map[string]int{}}}
	eng, err := cep.New(rs,
		cep.WithDecoder(&r.dec),
		cep.WithOutOfOrderness(opts.OutOfOrderness),
		// A batch job's output does not recover (a closed pipe): its first
		// failure ends the run.
		cep.WithDeliveryAttempts(1),
		cep.WithAlertHandler(func(_ context.Context, a cep.Alert) error {
			r.sum.Alerts++
			if a.Suppressed {
				r.sum.Suppressed++
			}
			if opts.OnAlert != nil {
				return opts.OnAlert(a)
			}
			return nil
		}))
	if err != nil {
		return nil, err
	}
	r.eng = eng
	return r, nil
}

// Feed decodes one event (pos names its place, for the id of an event
// without one) and processes it, and returns it as decoded (nil when it
// does not decode). A rejected event (malformed, late) is counted and its
// error is an *event.Error; the run goes on.
func (r *Runner) Feed(ctx context.Context, raw []byte, pos string) (*event.Event, error) {
	ev, err := r.dec.Decode(raw, pos)
	if err == nil {
		err = r.eng.ProcessEvent(ctx, ev)
	}
	var evErr *event.Error
	if errors.As(err, &evErr) {
		r.sum.Rejected[evErr.Reason]++
	}
	return ev, err
}

// reject counts an input rejected before decoding.
func (r *Runner) reject(reason string) { r.sum.Rejected[reason]++ }

// Finish moves the watermark to opts.Until (default: the end of time),
// delivers every alert and returns the summary.
func (r *Runner) Finish(ctx context.Context) (Summary, error) {
	until := cep.EndOfTime
	if !r.opts.Until.IsZero() {
		until = r.opts.Until
	}
	if err := r.eng.AdvanceWatermark(ctx, until); err != nil {
		return r.sum, err
	}
	if err := r.eng.Close(ctx); err != nil {
		return r.sum, err
	}
	// The handler ran on the engine's delivery goroutine: its counts are
	// complete (and visible) once Close has returned.
	st := r.eng.Stats()
	r.sum.Processed = st.Processed
	r.sum.Rules = st.Rules
	return r.sum, nil
}

// Run replays the events read from in (named name, for positions and the
// ids of events without one) through a new engine for rs.
func Run(ctx context.Context, rs *rules.Ruleset, in io.Reader, name string, opts Options) (Summary, error) {
	run, err := NewRunner(rs, opts)
	if err != nil {
		return Summary{Rejected: map[string]int{}}, err
	}
	maxSize := opts.Decoder.MaxSize
	if maxSize <= 0 {
		maxSize = event.DefaultMaxSize
	}
	r := ndjson.NewReader(in, maxSize)
	report := func(line ndjson.Line, err error) error {
		if opts.OnReject == nil {
			return nil
		}
		return opts.OnReject(Rejected{Source: name, Line: line.Number, Reason: event.ReasonOf(err), Error: err.Error(), Raw: string(line.Data)})
	}
	lastProgress := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return run.sum, err
		}
		line, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return run.sum, fmt.Errorf("%s: %w", name, err)
		}
		run.sum.Lines++
		if opts.OnProgress != nil && time.Since(lastProgress) > 200*time.Millisecond {
			opts.OnProgress(r.BytesRead())
			lastProgress = time.Now()
		}
		if line.TooLong {
			err := &event.Error{Reason: event.ReasonTooLarge, Msg: fmt.Sprintf("line is %d bytes, over the limit of %d", line.Size, maxSize)}
			run.reject(err.Reason)
			if err := report(line, err); err != nil {
				return run.sum, err
			}
			continue
		}
		_, err = run.Feed(ctx, line.Data, fmt.Sprintf("%s:%d", name, line.Number))
		var evErr *event.Error
		if errors.As(err, &evErr) {
			if err := report(line, err); err != nil {
				return run.sum, err
			}
			continue
		}
		if err != nil {
			return run.sum, err
		}
	}
	sum, err := run.Finish(ctx)
	if err != nil {
		return sum, err
	}
	if opts.OnProgress != nil {
		opts.OnProgress(r.BytesRead())
	}
	return sum, nil
}

// JSONWriter returns a function that writes values as NDJSON to w.
func JSONWriter(w io.Writer) func(v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode
}
