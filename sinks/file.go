package sinks

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/vigilhq/vigil/cep"
)

var _ cep.Sink = (*File)(nil)

// File writes alerts as NDJSON: one alert's JSON (cep.Alert.MarshalJSON)
// a line. Each Write is flushed to the underlying writer before it
// returns; File does not fsync. It is safe for concurrent use.
//
// File de-duplicates the alert ids it has written in this process (the
// most recent DefaultDedupeSize of them); after a restart an appended file
// may hold an id twice, so readers de-duplicate on "id" too.
//
// Stdout is NewFile(os.Stdout).
type File struct {
	mu      sync.Mutex
	w       io.Writer
	bw      *bufio.Writer
	closer  io.Closer // the file OpenFile opened; nil for NewFile
	seen    *idSet
	partial bool // a failed write may have left an unterminated line
	closed  bool
}

// NewFile returns a sink writing to w. Close flushes but does not close w.
func NewFile(w io.Writer) *File {
	return &File{w: w, bw: bufio.NewWriter(w), seen: newIDSet(0)}
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

// Write appends a's JSON and a newline and flushes. An id already written
// is skipped. If the write fails, the next one starts on a fresh line, so
// a partial line never swallows a later alert.
func (f *File) Write(ctx context.Context, a cep.Alert) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	line, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("file sink: encode alert %s: %w", a.ID, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	if a.ID != "" && f.seen.Contains(a.ID) {
		return nil
	}
	if f.partial {
		f.bw.WriteByte('\n')
	}
	f.bw.Write(line)
	f.bw.WriteByte('\n')
	if err := f.bw.Flush(); err != nil {
		// bufio keeps a write error forever; start over with an empty
		// buffer so a transient failure (a full disk) is not permanent.
		f.bw.Reset(f.w)
		f.partial = true
		return fmt.Errorf("file sink: write alert %s: %w", a.ID, err)
	}
	f.partial = false
	if a.ID != "" {
		f.seen.Add(a.ID)
	}
	return nil
}

// Close flushes and, for a file from OpenFile, closes the file. Later
// Writes return ErrClosed.
func (f *File) Close(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	err := f.bw.Flush()
	if f.closer != nil {
		err = errors.Join(err, f.closer.Close())
	}
	if err != nil {
		return fmt.Errorf("file sink: close: %w", err)
	}
	return nil
}
