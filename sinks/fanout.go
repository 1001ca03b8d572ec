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
	// neither shadow nor suppressed (SPEC §6).
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

// Fanout writes each alert to its targets one after another, in the order
// given, skipping action targets for shadow and suppressed alerts. Write
// stops at the first error and returns it wrapped with the target's name;
// since the targets de-duplicate on the alert id, the caller may simply
// write the alert again. List history targets first, so an alert is on
// record before anyone acts on it.
type Fanout struct {
	targets []Target
}

// NewFanout returns a Fanout over targets.
func NewFanout(targets ...Target) *Fanout {
	return &Fanout{targets: append([]Target(nil), targets...)}
}

// Write writes a to each target that should get it, in order.
func (f *Fanout) Write(ctx context.Context, a cep.Alert) error {
	action := !a.Shadow && !a.Suppressed
	for _, t := range f.targets {
		if t.Role == Action && !action {
			continue
		}
		if err := t.Sink.Write(ctx, a); err != nil {
			return fmt.Errorf("sink %s: %w", t.Name, err)
		}
	}
	return nil
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
