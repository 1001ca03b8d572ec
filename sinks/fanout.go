package sinks

import (
	"context"
	"errors"
	"fmt"

	"github.com/vigilhq/vigil/cep"
)

var _ cep.Sink = (*Fanout)(nil)

// Role says which alerts a sink in a Fanout gets.
type Role int

const (
	// History sinks (file, stdout, the alert store) get every alert,
	// shadow and suppressed ones included.
	History Role = iota
	// Action sinks (webhook, Kafka alerts topic) get only alerts that are
	// neither shadow nor suppressed.
	Action
)

func (r Role) String() string {
	switch r {
	case History:
		return "history"
	case Action:
		return "action"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Target is a named sink with its role in a Fanout.
type Target struct {
	Name string // used in errors, e.g. "webhook" or "store"
	Role Role
	Sink cep.Sink
}

// Fanout writes each batch to its targets one after another, in the order
// given: history targets get the whole batch, action targets only its
// alerts that are neither shadow nor suppressed (and no call at all when
// that leaves none). WriteBatch stops at the first error and returns it
// wrapped with the target's name; since the targets de-duplicate on the
// alert id, the caller may simply write the batch again. List history
// targets first, so an alert is on record before anyone acts on it.
type Fanout struct {
	targets []Target
}

// NewFanout returns a Fanout over targets.
func NewFanout(targets ...Target) *Fanout {
	return &Fanout{targets: append([]Target(nil), targets...)}
}

// Write writes a to each target that should get it, as WriteBatch does a
// batch of one.
func (f *Fanout) Write(ctx context.Context, a cep.Alert) error {
	return f.WriteBatch(ctx, []cep.Alert{a})
}

// WriteBatch writes alerts to each target, in order: all of them to a
// history target, those neither shadow nor suppressed to an action target.
func (f *Fanout) WriteBatch(ctx context.Context, alerts []cep.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	var action []cep.Alert // computed on first use
	actionDone := false
	for _, t := range f.targets {
		batch := alerts
		if t.Role == Action {
			if !actionDone {
				action, actionDone = actionable(alerts), true
			}
			batch = action
		}
		if len(batch) == 0 {
			continue
		}
		if err := t.Sink.WriteBatch(ctx, batch); err != nil {
			return fmt.Errorf("sink %s: %w", t.Name, err)
		}
	}
	return nil
}

// actionable returns the alerts that are neither shadow nor suppressed:
// alerts itself when that is all of them.
func actionable(alerts []cep.Alert) []cep.Alert {
	for i, a := range alerts {
		if a.Shadow || a.Suppressed {
			out := append(make([]cep.Alert, 0, len(alerts)-1), alerts[:i]...)
			for _, a := range alerts[i+1:] {
				if !a.Shadow && !a.Suppressed {
					out = append(out, a)
				}
			}
			return out
		}
	}
	return alerts
}

// Close closes every target, in order, and returns their errors joined.
func (f *Fanout) Close(ctx context.Context) error {
	var errs []error
	// In reverse: action sinks drain while the history sinks (the store
	// among them) are still open to record what they did.
	for i := len(f.targets) - 1; i >= 0; i-- {
		t := f.targets[i]
		if err := t.Sink.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sink %s: %w", t.Name, err))
		}
	}
	return errors.Join(errs...)
}
