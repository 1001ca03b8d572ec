package serve

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/vigilhq/vigil/internal/replay"
	"github.com/vigilhq/vigil/internal/telemetry"
)

// deadLetterFile appends rejected input as NDJSON, synced to disk: an item
// is only acknowledged once its dead letter is written. A failed write is
// returned to the caller, and kept for /readyz until a write succeeds.
type deadLetterFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
	err  error // the last write failure, until a write succeeds
	// metrics counts what is written (nil: not counted).
	metrics *telemetry.Metrics
}

func openDeadLetters(path string) (*deadLetterFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("dead-letter file: %w", err)
	}
	return &deadLetterFile{path: path, f: f}, nil
}

func (d *deadLetterFile) write(recs ...replay.Rejected) error {
	if len(recs) == 0 {
		return nil
	}
	var buf []byte
	for _, r := range recs {
		line, err := json.Marshal(r)
		if err != nil {
			return err
		}
		buf = append(append(buf, line...), '\n')
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	_, err := d.f.Write(buf)
	if err == nil {
		err = d.f.Sync()
	}
	if err != nil {
		d.err = fmt.Errorf("dead-letter file %s: %w", d.path, err)
		if d.metrics != nil {
			d.metrics.DeadLetter("file", "", 0, d.err)
		}
		return d.err
	}
	d.err = nil
	if d.metrics != nil {
		for _, r := range recs {
			d.metrics.DeadLetter("file", r.Reason, 1, nil)
		}
	}
	return nil
}

// failure returns the last write failure, while writes fail.
func (d *deadLetterFile) failure() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

func (d *deadLetterFile) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.f.Close()
}
