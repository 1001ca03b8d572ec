package cep

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/rules"
)

// router evaluates each rule's where and key for every event, once, and
// hands each (rule, key, event) to the shard that owns that rule and key.
// With one shard everything runs on the caller's goroutine; with more,
// each shard has a goroutine and run waits for all of them.
type router struct {
	eval        *rules.Evaluator // where and key; shard 0's when there is one shard
	rules       []*rules.Rule
	shards      []*shard
	work        [][]delivery // per shard, reused
	keyFailures []uint64     // per rule
	seed        maphash.Seed

	jobs []chan job
	wg   sync.WaitGroup
}

// delivery is one event for one rule under one key.
type delivery struct {
	ev   *event.Event
	rule int
	key  string
}

type job struct {
	items []delivery
	wm    int64
}

func newRouter(e *Engine, rs *rules.Ruleset, n int) (*router, error) {
	r := &router{rules: rs.Rules, work: make([][]delivery, n), keyFailures: make([]uint64, len(rs.Rules)),
		seed: maphash.MakeSeed()}
	for i := 0; i < n; i++ {
		sh, err := newShard(e, rs)
		if err != nil {
			return nil, err
		}
		r.shards = append(r.shards, sh)
	}
	if n == 1 {
		r.eval = r.shards[0].eval
		return r, nil
	}
	r.eval = rules.NewEvaluator(rs)
	for _, sh := range r.shards {
		jobs := make(chan job)
		r.jobs = append(r.jobs, jobs)
		go func() {
			for j := range jobs {
				sh.run(j.items, j.wm)
				r.wg.Done()
			}
		}()
	}
	return r, nil
}

// run processes a batch of events, in time order, and then moves every
// shard's time to wm.
func (r *router) run(batch []*event.Event, wm int64) {
	for i := range r.work {
		r.work[i] = r.work[i][:0]
	}
	n := uint64(len(r.shards))
	for _, ev := range batch {
		for ri, rule := range r.rules {
			if !r.eval.Bool(rule.Where, ev, "") {
				continue
			}
			key, ok := r.eval.KeyOf(rule, ev)
			if !ok {
				r.keyFailures[ri]++
				continue
			}
			s := 0
			if n > 1 {
				s = int((maphash.String(r.seed, key) ^ uint64(ri)*0x9e3779b97f4a7c15) % n)
			}
			r.work[s] = append(r.work[s], delivery{ev: ev, rule: ri, key: key})
		}
	}
	if n == 1 {
		r.shards[0].run(r.work[0], wm)
		return
	}
	r.wg.Add(len(r.shards))
	for i, jobs := range r.jobs {
		jobs <- job{items: r.work[i], wm: wm}
	}
	r.wg.Wait()
}

// deliver hands every shard's pending alerts to the handler, shard by
// shard; within a shard they are in time order.
func (r *router) deliver(ctx context.Context, h AlertHandler) error {
	var err error
	for _, sh := range r.shards {
		if err == nil && h != nil {
			for i := range sh.out {
				if err = h(ctx, sh.out[i]); err != nil {
					err = fmt.Errorf("alert handler: %w", err)
					break
				}
			}
		}
		clear(sh.out)
		sh.out = sh.out[:0]
	}
	return err
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
	errs := map[string]uint64{}
	evals := []*rules.Evaluator{r.eval}
	for _, sh := range r.shards {
		if sh.eval != r.eval {
			evals = append(evals, sh.eval)
		}
	}
	for _, ev := range evals {
		for name, n := range ev.Errors() {
			errs[name] += n
		}
	}
	for ri, rule := range r.rules {
		st := RuleStats{Errors: errs[rule.Name], KeyFailures: r.keyFailures[ri]}
		for _, sh := range r.shards {
			run := sh.runners[ri]
			b := run.base().stats
			st.Alerts += b.Alerts
			st.Suppressed += b.Suppressed
			run.state(&st)
		}
		out[rule.Name] = st
	}
}
