package serve

import (
	"math"
	"sync"
	"time"
)

// watermarks combines the sources' watermarks (SPEC §5): the engine's is
// the minimum over the active ones. A source with no event for the idle
// timeout is left out; when every source is idle the watermark follows the
// wall clock (now − out-of-orderness), if enabled, so absences and
// tumbling windows fire without new traffic.
type watermarks struct {
	mu         sync.Mutex
	ooo, idle  time.Duration
	followWall bool
	now        func() time.Time
	sources    map[string]*sourceMark
}

type sourceMark struct {
	wm       int64 // ms
	lastSeen time.Time
	ok       bool
}

func newWatermarks(ooo, idle time.Duration, followWall bool, now func() time.Time) *watermarks {
	return &watermarks{ooo: ooo, idle: idle, followWall: followWall, now: now, sources: map[string]*sourceMark{}}
}

// observe records that a source delivered events, and its own watermark
// when it has one (ok): a source that delivers but cannot yet say how far
// its time has come — a Kafka partition that has not sent anything yet —
// holds the combined watermark until it can, or goes idle.
func (w *watermarks) observe(source string, wm int64, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.sources[source]
	if m == nil {
		m = &sourceMark{wm: math.MinInt64}
		w.sources[source] = m
	}
	if ok {
		m.wm = max(m.wm, wm)
		m.ok = true
	}
	m.lastSeen = w.now()
}

// current returns the combined watermark; ok is false when nothing may move.
func (w *watermarks) current() (int64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	wm, active := int64(math.MaxInt64), false
	for _, m := range w.sources {
		if now.Sub(m.lastSeen) >= w.idle {
			continue
		}
		if !m.ok {
			return 0, false // active, but its time is not known yet
		}
		wm, active = min(wm, m.wm), true
	}
	if active {
		return wm, true
	}
	if w.followWall {
		return now.Add(-w.ooo).UnixMilli(), true
	}
	return 0, false
}
