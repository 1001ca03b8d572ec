// Package progress shows how far a long command (replay, bench) has got:
// on a terminal a bar with the count, the rate and the time left, drawn
// by github.com/schollz/progressbar; elsewhere (a log, CI) nothing while
// it runs and one summary line at the end. Commands call New, Set and
// Finish; nothing else of the bar leaks into them.
package progress

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Unit says what a bar counts.
type Unit int

// Units.
const (
	Items Unit = iota // events, lines
	Bytes
)

// Bar is one command's progress. A nil *Bar does nothing.
type Bar struct {
	w     io.Writer
	what  string
	unit  Unit
	total int64
	n     int64
	start time.Time
	pb    *progressbar.ProgressBar // nil when w is not a terminal
	// summary makes Finish write the summary line: when w is not a
	// terminal and the command does not print its own.
	summary bool
}

// Options for New.
type Options struct {
	// Quiet shows nothing at all.
	Quiet bool
	// NoSummary leaves the summary line to the command, which prints a
	// richer one itself (replay does).
	NoSummary bool
	// Terminal overrides the detection of a terminal (tests).
	Terminal *bool
}

// New starts a bar for what ("replay payments.ndjson") counting up to
// total units (0 or less: unknown, a spinner with the count and rate).
func New(w io.Writer, what string, unit Unit, total int64, o Options) *Bar {
	if o.Quiet {
		return nil
	}
	tty := isTerminal(w)
	if o.Terminal != nil {
		tty = *o.Terminal
	}
	b := &Bar{w: w, what: what, unit: unit, total: total, start: time.Now(), summary: !o.NoSummary}
	if !tty {
		if o.NoSummary {
			return nil
		}
		return b
	}
	b.summary = false
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetRenderBlankState(true),
	}
	if unit == Bytes {
		opts = append(opts, progressbar.OptionShowBytes(true), progressbar.OptionUseIECUnits(true))
	} else {
		opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"))
	}
	max := total
	if max <= 0 {
		max = -1 // a spinner
	}
	b.pb = progressbar.NewOptions64(max, opts...)
	return b
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Set records that n units are done.
func (b *Bar) Set(n int64) {
	if b == nil {
		return
	}
	b.n = n
	if b.pb != nil {
		_ = b.pb.Set64(n)
	}
}

// Finish clears the bar, or writes the summary line: what, how much, how
// long, how fast.
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	if b.pb != nil {
		_ = b.pb.Finish()
		_ = b.pb.Clear()
	}
	if !b.summary {
		return
	}
	elapsed := time.Since(b.start)
	fmt.Fprintf(b.w, "%s: %s in %s (%s/s)\n", b.what, amount(b.unit, float64(b.n)),
		elapsed.Round(time.Millisecond), amount(b.unit, float64(b.n)/max(elapsed.Seconds(), 1e-9)))
}

func amount(u Unit, v float64) string {
	if u == Bytes {
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	}
	return fmt.Sprintf("%.0f events", v)
}
