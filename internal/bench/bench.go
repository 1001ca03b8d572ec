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
	"sync"
	"sync/atomic"
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
	// Batch > 0 runs the engine as `vigil serve` does: events are
	// collected as a source reads them and pushed to an input Batch at a
	// time, so workers get whole batches; an event's latency runs from its
	// arrival to its batch's ack (processed, alerts delivered). 0: one
	// event per Process call, as a library user calls it.
	Batch int
	// Progress, when set, is told now and then how many events both runs
	// (the engine's, then the baseline's) have processed together, out of
	// twice Events.
	Progress func(done int)
	// Observer, when set, is the engine's observer (cep.WithObserver): to
	// measure what exporting metrics costs.
	Observer *cep.Observer
}

// Validate reports options a run cannot use.
func (o Options) Validate() error {
	switch {
	case o.Events <= 0:
		return fmt.Errorf("--events must be at least 1, got %d", o.Events)
	case o.Keys <= 0:
		return fmt.Errorf("--keys must be at least 1, got %d", o.Keys)
	case o.Workers <= 0:
		return fmt.Errorf("--workers must be at least 1, got %d", o.Workers)
	case o.Batch < 0:
		return fmt.Errorf("--batch must be 0 (one event per call) or more, got %d", o.Batch)
	}
	return nil
}

// Run measures the engine and the baseline on the same events.
func Run(ctx context.Context, sc Scenario, opts Options) (engine, baseline Result, err error) {
	if err := opts.Validate(); err != nil {
		return engine, baseline, err
	}
	events := generate(sc, opts)
	rs, err := rules.Load([]rules.Source{{Name: sc.Name + ".yaml", Data: []byte(sc.Rules)}})
	if err != nil {
		return engine, baseline, err
	}

	var alerts atomic.Int64
	var eng *cep.Engine
	engine, err = measure("vigil", events, progressFrom(opts.Progress, 0), func(lat *latencies) (matcher, error) {
		engOpts := []cep.Option{cep.WithWorkers(opts.Workers),
			cep.WithAlertHandler(func(context.Context, cep.Alert) error { alerts.Add(1); return nil })}
		if opts.Observer != nil {
			engOpts = append(engOpts, cep.WithObserver(*opts.Observer))
		}
		eng, err = cep.New(rs, engOpts...)
		if err != nil {
			return matcher{}, err
		}
		m := matcher{
			finish: func() error { return eng.Flush(ctx) },
			keys: func() int {
				keys := 0
				for _, r := range eng.Stats().Rules {
					keys += r.Keys
				}
				return keys
			},
		}
		if opts.Batch <= 0 {
			m.process = func(ev *event.Event) error { return eng.ProcessEvent(ctx, ev) }
			return m, nil
		}
		in, err := eng.OpenInput("bench", cep.InputOptions{})
		if err != nil {
			return matcher{}, err
		}
		lat.acked = true
		var batch []*event.Event
		var arrived []time.Time // arrival of the sampled events, by batch index; zero: not sampled
		push := func() error {
			b, times := batch, arrived
			batch, arrived = nil, nil
			_, err := in.Push(ctx, b, func() {
				now := time.Now()
				lat.mu.Lock()
				for _, t0 := range times {
					if !t0.IsZero() {
						lat.samples = append(lat.samples, now.Sub(t0))
					}
				}
				lat.mu.Unlock()
			})
			return err
		}
		n := 0
		m.process = func(ev *event.Event) error {
			var t0 time.Time
			if n%16 == 0 {
				t0 = time.Now()
			}
			n++
			batch, arrived = append(batch, ev), append(arrived, t0)
			if len(batch) == opts.Batch || n == len(events) {
				return push()
			}
			return nil
		}
		return m, nil
	})
	if eng != nil {
		_ = eng.Close(ctx) // stops the workers
		eng = nil
	}
	if err != nil {
		return engine, baseline, err
	}
	engine.Alerts = int(alerts.Load())

	baseAlerts := 0
	baseline, err = measure("hand-written", events, progressFrom(opts.Progress, len(events)), func(*latencies) (matcher, error) {
		process, keys := sc.Baseline(func() { baseAlerts++ })
		return matcher{process: func(ev *event.Event) error { process(ev); return nil }, keys: keys}, nil
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

// latencies collects the latency of every 16th event. With acked set,
// the matcher records an event's latency itself when it is done with it;
// otherwise a process call's duration is its latency.
type latencies struct {
	mu      sync.Mutex
	samples []time.Duration
	acked   bool
}

// matcher is what measure runs: process each event, finish (wait for
// what is still in flight), and report the keys held.
type matcher struct {
	process func(*event.Event) error
	finish  func() error
	keys    func() int
}

// measure runs a matcher over the events. Memory per key is the live heap
// with the matcher minus the live heap before it was built, both after a
// full GC, divided by the keys it holds (the events are allocated before
// either reading).
// progressEvery is how often a run reports progress, in events: rarely
// enough to cost nothing measurable.
const progressEvery = 1 << 14

// progressFrom returns a run's progress function, counting from base.
func progressFrom(f func(int), base int) func(int) {
	if f == nil {
		return nil
	}
	return func(done int) { f(base + done) }
}

func measure(name string, events []*event.Event, progress func(int), build func(*latencies) (matcher, error)) (Result, error) {
	res := Result{Name: name, Events: len(events)}
	before := liveHeap()
	lat := &latencies{samples: make([]time.Duration, 0, len(events)/16+1)}
	m, err := build(lat)
	if err != nil {
		return res, err
	}
	start := time.Now()
	for i, ev := range events {
		if progress != nil && i%progressEvery == 0 {
			progress(i)
		}
		if i%16 != 0 || lat.acked {
			if err := m.process(ev); err != nil {
				return res, err
			}
			continue
		}
		t0 := time.Now()
		if err := m.process(ev); err != nil {
			return res, err
		}
		lat.samples = append(lat.samples, time.Since(t0))
	}
	if m.finish != nil {
		if err := m.finish(); err != nil {
			return res, err
		}
	}
	res.Elapsed = time.Since(start)
	if progress != nil {
		progress(len(events))
	}
	res.Keys = m.keys()
	lat.mu.Lock()
	samples := lat.samples
	lat.samples = nil
	lat.mu.Unlock()
	slices.Sort(samples)
	if len(samples) > 0 {
		res.P50, res.P99, res.Max = samples[len(samples)/2], samples[len(samples)*99/100], samples[len(samples)-1]
	}
	withMatcher := liveHeap()
	runtime.KeepAlive(m)
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
		mode = fmt.Sprintf("events pushed %d at a time with an ack, as in serve", opts.Batch)
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
