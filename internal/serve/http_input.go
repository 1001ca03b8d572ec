package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/api"
	"github.com/vigilhq/vigil/internal/replay"
	"github.com/vigilhq/vigil/internal/telemetry"
	"github.com/vigilhq/vigil/store/clickhouse"
)

// httpInput is POST /v1/events: one engine input, "http". Items that do
// not decode, and events the engine rejects as late, are answered per
// item and recorded in the dead-letter file; an item whose dead letter
// cannot be written says so in its error.
type httpInput struct {
	in      *cep.Input
	decoder *event.Decoder
	dead    *deadLetterFile
	metrics *telemetry.Metrics // counts the items that do not decode; the engine's observer the rest
	seq     atomic.Uint64      // items numbered for the ids of events without one
	started int64
	wait    time.Duration           // the longest a request waits for a full engine
	events  *clickhouse.EventWriter // nil: events are not persisted
}

var errIngestBusy = errors.New("the engine is full")

// Ingest implements api.Ingester.
func (h *httpInput) Ingest(ctx context.Context, items []json.RawMessage) ([]api.Rejected, error) {
	var rejected []api.Rejected
	var dead []replay.Rejected
	evs := make([]*event.Event, 0, len(items))
	index := make([]int, 0, len(items)) // item index of each event
	var positions []string
	reject := func(i int, err error) {
		reason := event.ReasonOf(err)
		rejected = append(rejected, api.Rejected{Index: i, Reason: reason, Error: err.Error()})
		// Line is the item's number in the request, from 1.
		dead = append(dead, replay.Rejected{Source: "http", Line: i + 1, Reason: reason, Error: err.Error(), Raw: string(items[i])})
	}
	base := h.next(len(items))
	for i, raw := range items {
		pos := "http:" + strconv.FormatInt(h.started, 36) + ":" + strconv.FormatUint(base+uint64(i), 10)
		ev, err := h.decoder.Decode(raw, pos)
		if err != nil {
			h.metrics.Rejected("http", event.ReasonOf(err), 1)
			reject(i, err)
			continue
		}
		evs = append(evs, ev)
		index = append(index, i)
		positions = append(positions, pos)
	}
	if len(evs) > 0 {
		bctx, end := telemetry.StartBatch(ctx, "http", -1, len(evs))
		wctx, cancel := context.WithTimeout(bctx, h.wait)
		// Room for the events in ClickHouse's queue first: an event the
		// engine took must not wait for room there.
		var rows []clickhouse.Row
		var size int64
		if h.events != nil {
			raws := make([][]byte, len(evs))
			for j, i := range index {
				raws[j] = items[i]
			}
			rows = eventRows(evs, raws, "http", positions)
			size = clickhouse.SizeOf(rows)
			if err := h.events.Reserve(wctx, len(rows), size); err != nil {
				cancel()
				end(err)
				return nil, fmt.Errorf("events cannot be stored: %w", err)
			}
		}
		late, err := h.in.Push(wctx, evs, nil)
		cancel()
		end(err)
		if err != nil && h.events != nil {
			h.events.Release(len(rows), size)
		}
		if err == nil && h.events != nil {
			// The accepted events: late ones go to the dead letters only.
			addAccepted(h.events, rows, len(rows), size, late, nil)
		}
		if err != nil {
			if errors.Is(err, cep.ErrBusy) {
				return nil, fmt.Errorf("%w: %v", errIngestBusy, err)
			}
			return nil, err
		}
		for _, l := range late {
			reject(index[l.Index], l.Err)
		}
	}
	if err := h.dead.write(dead...); err != nil {
		for i := range rejected {
			rejected[i].Error += " (and it could not be recorded in the dead-letter file: " + err.Error() + ")"
		}
	}
	slices.SortFunc(rejected, func(a, b api.Rejected) int { return a.Index - b.Index })
	return rejected, nil
}

// next reserves n item numbers and returns the first.
func (h *httpInput) next(n int) uint64 { return h.seq.Add(uint64(n)) - uint64(n) + 1 }
