// Package bench measures the engine against hand-written Go that does the
// same job, in one run, so results are ratios rather than absolute numbers
// from a noisy machine. It backs `vigil bench`.
package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"runtime"
	"slices"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/rules"
)

// Scenario is one workload: a ruleset, an event generator and a baseline.
type Scenario struct {
	Name  string
	Rules string
	// Event returns the i-th event of the stream.
	Event func(r *rand.Rand, i int, keys int, t int64) *event.Event
	// Baseline returns a hand-written matcher; it reports each alert by
	// calling alert and returns the number of keys it holds state for.
	Baseline func(alert func()) (process func(ev *event.Event), keysHeld func() int)
}

// Result is one run's figures.
type Result struct {
	Name          string
	Events        int
	Alerts        int
	Elapsed       time.Duration
	P50, P99, Max time.Duration
	BytesPerKey   float64
	Keys          int
}

// EventsPerSec is the throughput.
func (r Result) EventsPerSec() float64 { return float64(r.Events) / r.Elapsed.Seconds() }

// Options size a run.
type Options struct {
	Events  int
	Keys    int
	Seed    int64
	Workers int // engine workers (cep.WithWorkers); the baseline always uses one goroutine
	// Batch > 0 runs the engine as `vigil serve` does: events are buffered
	// (cep.WithExternalWatermark) and the watermark advances once every
	// Batch events, so workers get whole batches. 0: one event per call,
	// as a library user calling Process.
	Batch int
}

// Run measures the engine and the baseline on the same events.
func Run(ctx context.Context, sc Scenario, opts Options) (engine, baseline Result, err error) {
	events := generate(sc, opts)
	rs, err := rules.Load([]rules.Source{{Name: sc.Name + ".yaml", Data: []byte(sc.Rules)}})
	if err != nil {
		return engine, baseline, err
	}

	alerts := 0
	var eng *cep.Engine
	engine, err = measure("vigil", events, func(lat *latencies) (func(*event.Event) error, func() int, error) {
		// An event's latency runs from Process to the moment it is processed
		// and its alerts delivered: in batch mode that includes waiting for
		// the watermark.
		if opts.Batch > 0 {
			lat.pending = map[*event.Event]time.Time{}
		}
		copts := []cep.Option{cep.WithWorkers(opts.Workers),
			cep.WithAlertHandler(func(context.Context, cep.Alert) error { alerts++; return nil }),
			cep.WithDoneHandler(func(_ context.Context, evs []*event.Event) {
				if len(lat.pending) == 0 {
					return
				}
				now := time.Now()
				for _, ev := range evs {
					if t0, ok := lat.pending[ev]; ok {
						lat.samples = append(lat.samples, now.Sub(t0))
						delete(lat.pending, ev)
					}
				}
			})}
		if opts.Batch > 0 {
			copts = append(copts, cep.WithExternalWatermark())
		}
		eng, err = cep.New(rs, copts...)
		if err != nil {
			return nil, nil, err
		}
		n := 0
		process := func(ev *event.Event) error {
			if err := eng.ProcessEvent(ctx, ev); err != nil {
				return err
			}
			if n++; opts.Batch > 0 && (n%opts.Batch == 0 || n == len(events)) {
				return eng.AdvanceWatermark(ctx, time.UnixMilli(ev.Time))
			}
			return nil
		}
		return process, func() int {
			keys := 0
			for _, r := range eng.Stats().Rules {
				keys += r.Keys
			}
			return keys
		}, nil
	})
	if eng != nil {
		_ = eng.Close(ctx) // stops the workers
		eng = nil
	}
	if err != nil {
		return engine, baseline, err
	}
	engine.Alerts = alerts

	baseAlerts := 0
	baseline, err = measure("hand-written", events, func(*latencies) (func(*event.Event) error, func() int, error) {
		process, keys := sc.Baseline(func() { baseAlerts++ })
		return func(ev *event.Event) error { process(ev); return nil }, keys, nil
	})
	baseline.Alerts = baseAlerts
	return engine, baseline, err
}

func generate(sc Scenario, opts Options) []*event.Event {
	r := rand.New(rand.NewSource(opts.Seed))
	out := make([]*event.Event, opts.Events)
	t := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i := range out {
		t += int64(r.Intn(3)) // a few events per millisecond, never backwards
		out[i] = sc.Event(r, i, opts.Keys, t)
		out[i].Seq = 0
	}
	return out
}

// latencies collects the latency of every 16th event. With pending set,
// the matcher records an event's latency itself when it is done with it;
// otherwise a Process call's duration is its latency.
type latencies struct {
	samples []time.Duration
	pending map[*event.Event]time.Time
}

// measure runs a matcher over the events. Memory per key is the live heap
// with the matcher minus the live heap before it was built, both after a
// full GC, divided by the keys it holds (the events are allocated before
// either reading).
func measure(name string, events []*event.Event, build func(*latencies) (func(*event.Event) error, func() int, error)) (Result, error) {
	res := Result{Name: name, Events: len(events)}
	before := liveHeap()
	lat := &latencies{samples: make([]time.Duration, 0, len(events)/16+1)}
	process, keysHeld, err := build(lat)
	if err != nil {
		return res, err
	}
	start := time.Now()
	for i, ev := range events {
		if i%16 != 0 {
			if err := process(ev); err != nil {
				return res, err
			}
			continue
		}
		t0 := time.Now()
		if lat.pending != nil {
			lat.pending[ev] = t0
		}
		if err := process(ev); err != nil {
			return res, err
		}
		if lat.pending == nil {
			lat.samples = append(lat.samples, time.Since(t0))
		}
	}
	res.Elapsed = time.Since(start)
	res.Keys = keysHeld()
	samples := lat.samples
	slices.Sort(samples)
	if len(samples) > 0 {
		res.P50, res.P99, res.Max = samples[len(samples)/2], samples[len(samples)*99/100], samples[len(samples)-1]
	}
	lat.samples = nil
	withMatcher := liveHeap()
	runtime.KeepAlive(process)
	runtime.KeepAlive(keysHeld)
	runtime.KeepAlive(events) // shared input: alive in both readings
	if res.Keys > 0 {
		res.BytesPerKey = float64(int64(withMatcher)-int64(before)) / float64(res.Keys)
	}
	return res, nil
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Print writes a comparison table.
func Print(w io.Writer, sc Scenario, opts Options, engine, baseline Result) {
	mode := "one event per Process call"
	if opts.Batch > 0 {
		mode = fmt.Sprintf("watermark advanced every %d events, as in serve", opts.Batch)
	}
	fmt.Fprintf(w, "scenario %s: %d events over %d keys, %d engine worker(s), %s (%s, %d CPU)\n",
		sc.Name, opts.Events, opts.Keys, max(opts.Workers, 1), mode, runtime.Version(), runtime.NumCPU())
	fmt.Fprintf(w, "  %-13s %12s %10s %10s %10s %12s %8s\n", "", "events/s", "p50", "p99", "max", "bytes/key", "alerts")
	for _, r := range []Result{engine, baseline} {
		fmt.Fprintf(w, "  %-13s %12.0f %10s %10s %10s %12.0f %8d\n", r.Name, r.EventsPerSec(), r.P50, r.P99, r.Max, r.BytesPerKey, r.Alerts)
	}
	fmt.Fprintf(w, "  ratio vigil/hand-written: throughput %.2fx, p99 %.2fx, memory/key %.2fx\n",
		engine.EventsPerSec()/baseline.EventsPerSec(),
		float64(engine.P99)/float64(max(baseline.P99, 1)),
		engine.BytesPerKey/max(baseline.BytesPerKey, 1))
	if engine.Alerts != baseline.Alerts {
		fmt.Fprintf(w, "  WARNING: vigil raised %d alerts, the baseline %d: they do not compute the same thing\n", engine.Alerts, baseline.Alerts)
	}
}
