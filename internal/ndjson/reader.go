// Package ndjson reads newline-delimited JSON with line numbers, bounding
// the memory of a line: an over-long line is skipped and reported, not
// read whole.
package ndjson

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Line is one non-blank line of input.
type Line struct {
	Data    []byte // valid until the next call to Next
	Number  int    // 1-based
	TooLong bool   // the line exceeded the limit; Data holds its start
	Size    int    // the line's full length in bytes
}

// Reader reads lines of at most Max bytes.
type Reader struct {
	r      *bufio.Reader
	max    int
	number int
	buf    []byte
	read   int64
}

// NewReader returns a reader of lines up to max bytes.
func NewReader(r io.Reader, max int) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64*1024), max: max}
}

// BytesRead returns how many bytes have been consumed, for progress.
func (r *Reader) BytesRead() int64 { return r.read }

// Next returns the next non-blank line, or io.EOF.
func (r *Reader) Next() (Line, error) {
	for {
		r.number++
		r.buf = r.buf[:0]
		size, tooLong := 0, false
		for {
			chunk, err := r.r.ReadSlice('\n')
			size += len(chunk)
			r.read += int64(len(chunk))
			if !tooLong {
				if len(r.buf)+len(chunk) > r.max+1 { // +1: the newline
					tooLong = true
					keep := min(len(chunk), 256)
					r.buf = append(r.buf, chunk[:keep]...)
				} else {
					r.buf = append(r.buf, chunk...)
				}
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil && (err != io.EOF || size == 0) {
				return Line{}, err
			}
			break
		}
		data := bytes.TrimSpace(r.buf)
		if len(data) == 0 && !tooLong {
			continue
		}
		return Line{Data: data, Number: r.number, TooLong: tooLong, Size: size}, nil
	}
}
