// Package wire is the binary encoding of vigil's engine snapshots: a
// stream of frames, each a kind byte, a length, a payload of varint-encoded
// fields and a CRC-32C checksum. Enc builds a payload, Dec reads one back,
// Writer and Reader move frames to and from a stream.
//
// Nothing here knows what the frames mean; the engine (package cep) and
// the matchers (patterns/…) define their own payloads. Decoding never
// panics: a short or malformed payload sets an error that stays, and every
// count read is checked against the bytes left before anything is
// allocated for it.
package wire

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
)

// Enc appends fields to a payload. The zero value is ready to use.
type Enc struct {
	b    []byte
	keys []string // Tree's scratch: the keys of the objects being written
}

// Reset empties the payload, keeping its buffer.
func (e *Enc) Reset() { e.b = e.b[:0] }

// Bytes returns the payload; it is valid until the next change to e.
func (e *Enc) Bytes() []byte { return e.b }

// Len returns the payload's size in bytes.
func (e *Enc) Len() int { return len(e.b) }

// Uvarint appends an unsigned integer.
func (e *Enc) Uvarint(u uint64) { e.b = binary.AppendUvarint(e.b, u) }

// Varint appends a signed integer (zig-zag encoded).
func (e *Enc) Varint(i int64) { e.b = binary.AppendVarint(e.b, i) }

// Bool appends a boolean as one byte.
func (e *Enc) Bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// Float64 appends the exact bits of f (NaN payloads and -0 included).
func (e *Enc) Float64(f float64) {
	e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(f))
}

// String appends a length-prefixed string.
func (e *Enc) String(s string) {
	e.Uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

// Blob appends a length-prefixed byte slice.
func (e *Enc) Blob(b []byte) {
	e.Uvarint(uint64(len(b)))
	e.b = append(e.b, b...)
}

// Value tags.
const (
	tagNil byte = iota
	tagFalse
	tagTrue
	tagFloat
	tagInt   // Go int
	tagInt64 // every other signed integer type
	tagUint  // every unsigned integer type
	tagString
	tagJSON // anything else, as its JSON text
	tagObject
	tagArray
)

// Value appends a value of an expression or an event field, keeping its
// Go type for nil, bool, float64, int, the other integer types (read back
// as int64 or uint64), float32 (read back as float64) and string. Any
// other value — JSON objects and arrays above all — is written as its JSON
// text and read back as encoding/json decodes it (numbers as float64). A
// value JSON cannot encode is written as nil.
func (e *Enc) Value(v any) {
	switch x := v.(type) {
	case nil:
		e.b = append(e.b, tagNil)
	case bool:
		if x {
			e.b = append(e.b, tagTrue)
		} else {
			e.b = append(e.b, tagFalse)
		}
	case float64:
		e.b = append(e.b, tagFloat)
		e.Float64(x)
	case float32:
		e.b = append(e.b, tagFloat)
		e.Float64(float64(x))
	case int:
		e.b = append(e.b, tagInt)
		e.Varint(int64(x))
	case int64:
		e.int64(x)
	case int32:
		e.int64(int64(x))
	case int16:
		e.int64(int64(x))
	case int8:
		e.int64(int64(x))
	case uint:
		e.uint64(uint64(x))
	case uint64:
		e.uint64(x)
	case uint32:
		e.uint64(uint64(x))
	case uint16:
		e.uint64(uint64(x))
	case uint8:
		e.uint64(uint64(x))
	case string:
		e.b = append(e.b, tagString)
		e.String(x)
	default:
		data, err := json.Marshal(v)
		if err != nil {
			e.b = append(e.b, tagNil)
			return
		}
		e.b = append(e.b, tagJSON)
		e.Blob(data)
	}
}

// Tree appends a decoded JSON value — an event's fields — exactly: objects
// (map[string]any, keys in sorted order, so equal values encode alike) and
// arrays ([]any) are walked, every leaf is written as Value writes it. It
// is several times faster than JSON text, and reads back the same types.
func (e *Enc) Tree(v any) {
	switch x := v.(type) {
	case map[string]any:
		e.b = append(e.b, tagObject)
		e.Uvarint(uint64(len(x)))
		start := len(e.keys)
		for k := range x {
			e.keys = append(e.keys, k)
		}
		keys := e.keys[start:]
		slices.Sort(keys)
		for _, k := range keys {
			e.String(k)
			e.Tree(x[k])
		}
		clear(e.keys[start:])
		e.keys = e.keys[:start]
	case []any:
		e.b = append(e.b, tagArray)
		e.Uvarint(uint64(len(x)))
		for _, el := range x {
			e.Tree(el)
		}
	default:
		e.Value(v)
	}
}

func (e *Enc) int64(x int64) {
	e.b = append(e.b, tagInt64)
	e.Varint(x)
}

func (e *Enc) uint64(x uint64) {
	e.b = append(e.b, tagUint)
	e.Uvarint(x)
}

// ErrCorrupt is wrapped by every decoding error.
var ErrCorrupt = errors.New("corrupt snapshot data")

// Dec reads the fields of a payload in the order they were written. The
// first problem is kept (see Err); after it every read returns a zero
// value.
type Dec struct {
	b   []byte
	off int
	err error
}

// NewDec returns a decoder over payload.
func NewDec(payload []byte) *Dec { return &Dec{b: payload} }

// Err returns the first decoding error, or nil.
func (d *Dec) Err() error { return d.err }

// Fail records err (wrapped in ErrCorrupt) unless an error is already
// recorded; callers use it for values that decode but make no sense.
func (d *Dec) Fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

// Done returns Err, or an error when bytes are left unread.
func (d *Dec) Done() error {
	if d.err == nil && d.off != len(d.b) {
		d.Fail("%d unexpected bytes at the end of a record", len(d.b)-d.off)
	}
	return d.err
}

// Uvarint reads an unsigned integer.
func (d *Dec) Uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	u, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.Fail("bad unsigned integer at byte %d", d.off)
		return 0
	}
	d.off += n
	return u
}

// Varint reads a signed integer.
func (d *Dec) Varint() int64 {
	if d.err != nil {
		return 0
	}
	i, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.Fail("bad integer at byte %d", d.off)
		return 0
	}
	d.off += n
	return i
}

// Int reads a signed integer that must fit an int between lo and hi.
func (d *Dec) Int(lo, hi int) int {
	v := d.Varint()
	if d.err == nil && (v < int64(lo) || v > int64(hi)) {
		d.Fail("value %d outside [%d, %d]", v, lo, hi)
		return lo
	}
	return int(v)
}

// Count reads a number of items that follow, each taking at least
// minBytes bytes, and fails when the payload cannot hold that many: a
// corrupt count never makes the caller allocate more than the payload's
// size.
func (d *Dec) Count(minBytes int) int {
	u := d.Uvarint()
	if d.err != nil {
		return 0
	}
	left := uint64(len(d.b) - d.off)
	if minBytes < 1 {
		minBytes = 1
	}
	if u > left/uint64(minBytes) {
		d.Fail("count %d exceeds the %d bytes left", u, left)
		return 0
	}
	return int(u)
}

// Bool reads a boolean.
func (d *Dec) Bool() bool {
	if d.err != nil {
		return false
	}
	if d.off >= len(d.b) {
		d.Fail("short record")
		return false
	}
	v := d.b[d.off]
	d.off++
	if v > 1 {
		d.Fail("bad boolean %d", v)
	}
	return v == 1
}

// Float64 reads a float written by Enc.Float64.
func (d *Dec) Float64() float64 {
	if d.err != nil {
		return 0
	}
	if len(d.b)-d.off < 8 {
		d.Fail("short record")
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(d.b[d.off:]))
	d.off += 8
	return f
}

// Blob reads a length-prefixed byte slice. The result aliases the
// payload: copy it to keep it past the payload's lifetime.
func (d *Dec) Blob() []byte {
	n := d.Count(1)
	if d.err != nil {
		return nil
	}
	b := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

// String reads a length-prefixed string.
func (d *Dec) String() string { return string(d.Blob()) }

// maxTreeDepth bounds the nesting Tree reads back, as the event decoder
// bounds what it reads.
const maxTreeDepth = 512

// Tree reads a value written by Enc.Tree (or Enc.Value).
func (d *Dec) Tree() any { return d.tree(0) }

func (d *Dec) tree(depth int) any {
	if d.err != nil {
		return nil
	}
	if d.off >= len(d.b) {
		d.Fail("short record")
		return nil
	}
	switch d.b[d.off] {
	case tagObject:
		d.off++
		if depth >= maxTreeDepth {
			d.Fail("value nested deeper than %d", maxTreeDepth)
			return nil
		}
		n := d.Count(2)
		m := make(map[string]any, n)
		for i := 0; i < n && d.err == nil; i++ {
			k := d.String()
			m[k] = d.tree(depth + 1)
		}
		if d.err == nil && len(m) != n {
			d.Fail("object with a repeated key")
		}
		return m
	case tagArray:
		d.off++
		if depth >= maxTreeDepth {
			d.Fail("value nested deeper than %d", maxTreeDepth)
			return nil
		}
		n := d.Count(1)
		a := make([]any, n)
		for i := range a {
			a[i] = d.tree(depth + 1)
		}
		return a
	}
	return d.Value()
}

// Value reads a value written by Enc.Value.
func (d *Dec) Value() any {
	if d.err != nil {
		return nil
	}
	if d.off >= len(d.b) {
		d.Fail("short record")
		return nil
	}
	tag := d.b[d.off]
	d.off++
	switch tag {
	case tagNil:
		return nil
	case tagFalse:
		return false
	case tagTrue:
		return true
	case tagFloat:
		return d.Float64()
	case tagInt:
		v := d.Varint()
		if v < math.MinInt || v > math.MaxInt {
			d.Fail("int %d out of range", v)
		}
		return int(v)
	case tagInt64:
		return d.Varint()
	case tagUint:
		return d.Uvarint()
	case tagString:
		return d.String()
	case tagJSON:
		data := d.Blob()
		if d.err != nil {
			return nil
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			d.Fail("bad JSON value: %v", err)
			return nil
		}
		return v
	}
	d.Fail("unknown value tag %d", tag)
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// DefaultMaxFrame is the largest payload a Reader accepts by default.
const DefaultMaxFrame = 1 << 30

// Writer writes frames to a stream through a buffer. Check the error of
// Flush: write errors are also reported there.
type Writer struct {
	w   *bufio.Writer
	hdr []byte
	sum [4]byte
	n   int64
	err error
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriterSize(w, 64<<10)} }

// Frame writes one frame: kind, payload length, payload, and the CRC-32C
// of kind and payload.
func (w *Writer) Frame(kind byte, payload []byte) error {
	if w.err != nil {
		return w.err
	}
	w.hdr = append(w.hdr[:0], kind)
	w.hdr = binary.AppendUvarint(w.hdr, uint64(len(payload)))
	crc := crc32.Update(crc32.Update(0, castagnoli, w.hdr[:1]), castagnoli, payload)
	binary.LittleEndian.PutUint32(w.sum[:], crc)
	w.write(w.hdr)
	w.write(payload)
	w.write(w.sum[:])
	return w.err
}

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.w.Write(b)
	w.n += int64(n)
	w.err = err
}

// Written returns the number of bytes written so far (buffered ones
// included).
func (w *Writer) Written() int64 { return w.n }

// Flush writes out the buffered frames.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	w.err = w.w.Flush()
	return w.err
}

// Reader reads frames from a stream.
type Reader struct {
	r *bufio.Reader
	// MaxFrame is the largest payload accepted (default DefaultMaxFrame):
	// a corrupt length must not allocate without bound.
	MaxFrame int
	buf      []byte
	frames   int
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), MaxFrame: DefaultMaxFrame}
}

// Next reads the next frame and checks its checksum. The payload is valid
// until the next call. At the end of the stream, before any byte of a
// frame, it returns io.EOF; a stream that ends inside a frame is
// io.ErrUnexpectedEOF.
func (r *Reader) Next() (kind byte, payload []byte, err error) {
	kind, err = r.r.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, nil, io.EOF
		}
		return 0, nil, err
	}
	n, err := binary.ReadUvarint(r.r)
	if err != nil {
		return 0, nil, r.short(err)
	}
	if n > uint64(r.MaxFrame) {
		return 0, nil, fmt.Errorf("%w: frame %d is %d bytes, over the limit of %d", ErrCorrupt, r.frames, n, r.MaxFrame)
	}
	if err := r.fill(int(n) + 4); err != nil {
		return 0, nil, r.short(err)
	}
	payload = r.buf[:n]
	want := binary.LittleEndian.Uint32(r.buf[n:])
	if got := crc32.Update(crc32.Update(0, castagnoli, []byte{kind}), castagnoli, payload); got != want {
		return 0, nil, fmt.Errorf("%w: frame %d fails its checksum", ErrCorrupt, r.frames)
	}
	r.frames++
	return kind, payload, nil
}

// fill reads size bytes into r.buf. A large frame's buffer grows with the
// data that actually arrives, so a corrupt length in a short stream does
// not allocate what the stream does not hold.
func (r *Reader) fill(size int) error {
	const chunk = 1 << 20
	if size <= chunk || size <= cap(r.buf) {
		if cap(r.buf) < size {
			r.buf = make([]byte, size)
		}
		r.buf = r.buf[:size]
		_, err := io.ReadFull(r.r, r.buf)
		return err
	}
	r.buf = r.buf[:0]
	for len(r.buf) < size {
		n := min(chunk, size-len(r.buf))
		r.buf = append(r.buf, make([]byte, n)...)
		if _, err := io.ReadFull(r.r, r.buf[len(r.buf)-n:]); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reader) short(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: frame %d: %v", ErrCorrupt, r.frames, err)
}
