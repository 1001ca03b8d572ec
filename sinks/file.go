package sinks

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/vigilhq/vigil/cep"
)

var _ cep.Sink = (*File)(nil)

// File writes alerts as NDJSON: one alert's JSON (cep.Alert.MarshalJSON)
// a line. WriteBatch hands a batch's lines to the underlying writer in
// one Write before it returns; File buffers nothing between calls and
// does not fsync. It is safe for concurrent use.
//
// File de-duplicates the alert ids it has written in this process (the
// most recent DefaultDedupeSize of them); after a restart an appended file
// may hold an id twice, so readers de-duplicate on "id" too.
//
// Stdout is NewFile(os.Stdout).
type File struct {
	mu      sync.Mutex
	w       io.Writer
	closer  io.Closer // the file OpenFile opened; nil for NewFile
	seen    *idSet
	partial bool // a failed write may have left an unterminated line
	closed  bool
}

// NewFile returns a sink writing to w. Close does not close w.
func NewFile(w io.Writer) *File {
	return &File{w: w, seen: newIDSet(0)}
}

// OpenFile opens path for appending, creating it if needed, and returns a
// sink writing to it. Close closes the file.
func OpenFile(path string) (*File, error) {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	f := NewFile(fh)
	f.closer = fh
	return f, nil
}

// WriteBatch appends each alert's JSON and a newline, in order, with one
// Write to the underlying writer. Ids already written, or repeated within
// the batch, are skipped. If the write fails, the alerts whose lines were
// written whole count as written, and the next write starts on a fresh
// line, so a partial line never swallows a later alert.
func (f *File) WriteBatch(ctx context.Context, alerts []cep.Alert) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(alerts) == 0 {
		return nil
	}
	// Encode outside the lock; ends[i] is where alert i's line ends.
	buf := []byte{'\n'} // room for the newline that ends a partial line
	ends := make([]int, len(alerts))
	for i, a := range alerts {
		// The bytes json.Marshal(a) returns, without its second pass over them.
		line, err := a.MarshalJSON()
		if err != nil {
			return fmt.Errorf("file sink: encode alert %s: %w", a.ID, err)
		}
		buf = append(append(buf, line...), '\n')
		ends[i] = len(buf)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	// Drop the ids written already or earlier in this batch, moving the
	// lines kept down in place (out never runs ahead of the line read).
	out := buf[:1]
	kept := make([]string, 0, len(alerts)) // their ids
	keptEnds := make([]int, 0, len(alerts))
	start := 1
	var inBatch map[string]bool
	for i, a := range alerts {
		line := buf[start:ends[i]]
		start = ends[i]
		if a.ID != "" {
			if f.seen.Contains(a.ID) || inBatch[a.ID] {
				continue
			}
			if inBatch == nil {
				inBatch = make(map[string]bool, len(alerts))
			}
			inBatch[a.ID] = true
		}
		out = append(out, line...)
		kept = append(kept, a.ID)
		keptEnds = append(keptEnds, len(out))
	}
	if len(kept) == 0 {
		return nil
	}
	if !f.partial {
		out = out[1:]
		for i := range keptEnds {
			keptEnds[i]--
		}
	}

	n, err := f.w.Write(out)
	if err == nil && n < len(out) {
		err = io.ErrShortWrite
	}
	for i, id := range kept { // the lines written whole
		if keptEnds[i] > n {
			break
		}
		if id != "" {
			f.seen.Add(id)
		}
	}
	if err != nil {
		// The file now ends mid-line if the write stopped inside one, or
		// wrote nothing after an earlier partial line.
		f.partial = n > 0 && out[n-1] != '\n' || n == 0 && f.partial
		return fmt.Errorf("file sink: write %d alerts: %w", len(kept), err)
	}
	f.partial = false
	return nil
}

// Close closes a file from OpenFile. Later calls to WriteBatch return
// ErrClosed.
func (f *File) Close(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if f.closer != nil {
		if err := f.closer.Close(); err != nil {
			return fmt.Errorf("file sink: close: %w", err)
		}
	}
	return nil
}
