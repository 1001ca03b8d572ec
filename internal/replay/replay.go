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

// Run replays the events read from in (named name, for positions and the
// ids of events without one) through a new engine for rs.
func Run(ctx context.Context, rs *rules.Ruleset, in io.Reader, name string, opts Options) (Summary, error) {
	sum := Summary{Rejected: map[string]int{}}
	dec := opts.Decoder
	eng, err := cep.New(rs,
		cep.WithDecoder(&dec),
		cep.WithOutOfOrderness(opts.OutOfOrderness),
		// A batch job's output does not recover (a closed pipe): its first
		// failure ends the replay.
		cep.WithDeliveryAttempts(1),
		cep.WithAlertHandler(func(_ context.Context, a cep.Alert) error {
			sum.Alerts++
			if a.Suppressed {
				sum.Suppressed++
			}
			if opts.OnAlert != nil {
				return opts.OnAlert(a)
			}
			return nil
		}))
	if err != nil {
		return sum, err
	}
	maxSize := dec.MaxSize
	if maxSize <= 0 {
		maxSize = event.DefaultMaxSize
	}
	r := ndjson.NewReader(in, maxSize)
	reject := func(line ndjson.Line, err error) error {
		reason := event.ReasonOf(err)
		sum.Rejected[reason]++
		if opts.OnReject == nil {
			return nil
		}
		return opts.OnReject(Rejected{Source: name, Line: line.Number, Reason: reason, Error: err.Error(), Raw: string(line.Data)})
	}
	lastProgress := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		line, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return sum, fmt.Errorf("%s: %w", name, err)
		}
		sum.Lines++
		if opts.OnProgress != nil && time.Since(lastProgress) > 200*time.Millisecond {
			opts.OnProgress(r.BytesRead())
			lastProgress = time.Now()
		}
		if line.TooLong {
			err := &event.Error{Reason: event.ReasonTooLarge, Msg: fmt.Sprintf("line is %d bytes, over the limit of %d", line.Size, maxSize)}
			if err := reject(line, err); err != nil {
				return sum, err
			}
			continue
		}
		ev, err := dec.Decode(line.Data, fmt.Sprintf("%s:%d", name, line.Number))
		if err == nil {
			err = eng.ProcessEvent(ctx, ev)
		}
		var evErr *event.Error
		if errors.As(err, &evErr) {
			if err := reject(line, err); err != nil {
				return sum, err
			}
			continue
		}
		if err != nil {
			return sum, err
		}
	}
	until := cep.EndOfTime
	if !opts.Until.IsZero() {
		until = opts.Until
	}
	if err := eng.AdvanceWatermark(ctx, until); err != nil {
		return sum, err
	}
	if err := eng.Close(ctx); err != nil {
		return sum, err
	}
	// The handler ran on the engine's delivery goroutine: its counts are
	// complete (and visible) once Close has returned.
	if opts.OnProgress != nil {
		opts.OnProgress(r.BytesRead())
	}
	st := eng.Stats()
	sum.Processed = st.Processed
	sum.Rules = st.Rules
	return sum, nil
}

// JSONWriter returns a function that writes values as NDJSON to w.
func JSONWriter(w io.Writer) func(v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode
}
