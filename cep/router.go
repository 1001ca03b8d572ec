package cep

import (
	"hash/maphash"
	"sync"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/rules"
)

// router runs batches of events on the shards. Every shard sees every event
// of a batch, evaluates each rule's where and key itself, and keeps only
// the (rule, key) pairs it owns, so there is no serial routing step: the
// cheap where and key are computed once per shard, the expensive matching
// once per event and rule. With one shard everything runs on the caller's
// goroutine; with more, each shard has a goroutine and run waits for all.
type router struct {
	shards []*shard
	jobs   []chan job
	wg     sync.WaitGroup
}

type job struct {
	batch []*event.Event
	wm    int64
}

func newRouter(e *Engine, rs *rules.Ruleset, n int) (*router, error) {
	r := &router{}
	seed := maphash.MakeSeed()
	for i := 0; i < n; i++ {
		sh, err := newShard(e, rs)
		if err != nil {
			return nil, err
		}
		sh.id, sh.count, sh.seed = i, n, seed
		r.shards = append(r.shards, sh)
	}
	if n == 1 {
		return r, nil
	}
	for _, sh := range r.shards {
		jobs := make(chan job)
		r.jobs = append(r.jobs, jobs)
		go func() {
			for j := range jobs {
				sh.run(j.batch, j.wm)
				r.wg.Done()
			}
		}()
	}
	return r, nil
}

// run processes a batch of events, in time order, and then moves every
// shard's time to wm.
func (r *router) run(batch []*event.Event, wm int64) {
	if len(r.shards) == 1 {
		r.shards[0].run(batch, wm)
		return
	}
	r.wg.Add(len(r.shards))
	for _, jobs := range r.jobs {
		jobs <- job{batch: batch, wm: wm}
	}
	r.wg.Wait()
}

// collect moves every shard's new alerts to dst, shard by shard; within a
// shard they are in time order.
func (r *router) collect(dst []Alert) []Alert {
	for _, sh := range r.shards {
		dst = append(dst, sh.out...)
		clear(sh.out)
		sh.out = sh.out[:0]
	}
	return dst
}

// stop ends the shard goroutines.
func (r *router) stop() {
	for _, jobs := range r.jobs {
		close(jobs)
	}
	r.jobs = nil
}

// stats sums every shard's counters per rule.
func (r *router) stats(out map[string]RuleStats) {
	for ri, rule := range r.shards[0].rs.Rules {
		var st RuleStats
		for _, sh := range r.shards {
			run := sh.runners[ri]
			b := run.base().stats
			st.Alerts += b.Alerts
			st.Suppressed += b.Suppressed
			st.KeyFailures += b.KeyFailures
			st.Errors += sh.eval.Errors()[rule.Name]
			run.state(&st)
		}
		out[rule.Name] = st
	}
}
