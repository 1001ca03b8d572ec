package wire

import (
	"bytes"
	"errors"
	"io"
	"math"
	"reflect"
	"testing"
)

func TestFieldsRoundTrip(t *testing.T) {
	var e Enc
	e.Uvarint(300)
	e.Varint(-7)
	e.Bool(true)
	e.Float64(math.Copysign(0, -1))
	e.String("héllo")
	e.Blob([]byte{0, 1, 2})
	values := []any{nil, false, true, 1.5, 42, int64(-3), uint64(9), "s",
		map[string]any{"a": []any{1.0, "x"}}, int8(5), float32(0.5)}
	for _, v := range values {
		e.Value(v)
	}
	d := NewDec(e.Bytes())
	if got := d.Uvarint(); got != 300 {
		t.Errorf("Uvarint = %d; want 300", got)
	}
	if got := d.Varint(); got != -7 {
		t.Errorf("Varint = %d; want -7", got)
	}
	if !d.Bool() {
		t.Error("Bool = false; want true")
	}
	if f := d.Float64(); f != 0 || !math.Signbit(f) {
		t.Errorf("Float64 = %v; want -0", f)
	}
	if got := d.String(); got != "héllo" {
		t.Errorf("String = %q", got)
	}
	if got := d.Blob(); !bytes.Equal(got, []byte{0, 1, 2}) {
		t.Errorf("Blob = %v", got)
	}
	want := []any{nil, false, true, 1.5, 42, int64(-3), uint64(9), "s",
		map[string]any{"a": []any{1.0, "x"}}, int64(5), 0.5}
	for i, w := range want {
		if got := d.Value(); !reflect.DeepEqual(got, w) {
			t.Errorf("Value %d = %#v; want %#v", i, got, w)
		}
	}
	if err := d.Done(); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeErrors(t *testing.T) {
	d := NewDec([]byte{0xff})
	d.Uvarint()
	if !errors.Is(d.Err(), ErrCorrupt) {
		t.Fatalf("truncated varint: err = %v; want ErrCorrupt", d.Err())
	}
	var e Enc
	e.Uvarint(1 << 40) // a count far beyond the payload
	d = NewDec(e.Bytes())
	if n := d.Count(1); n != 0 || d.Err() == nil {
		t.Fatalf("Count = %d, err %v; want 0 and an error", n, d.Err())
	}
	e.Reset()
	e.Uvarint(1)
	e.Uvarint(2)
	d = NewDec(e.Bytes())
	d.Uvarint()
	if err := d.Done(); err == nil {
		t.Fatal("Done with a byte left: no error")
	}
}

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Frame(1, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := w.Frame(2, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.Written() != int64(buf.Len()) {
		t.Errorf("Written = %d; want %d", w.Written(), buf.Len())
	}
	data := buf.Bytes()
	r := NewReader(bytes.NewReader(data))
	for _, want := range []struct {
		kind    byte
		payload string
	}{{1, "one"}, {2, ""}} {
		k, p, err := r.Next()
		if err != nil || k != want.kind || string(p) != want.payload {
			t.Fatalf("Next = %d %q %v; want %d %q", k, p, err, want.kind, want.payload)
		}
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("at the end: %v; want io.EOF", err)
	}

	flipped := append([]byte(nil), data...)
	flipped[3] ^= 1
	if _, _, err := NewReader(bytes.NewReader(flipped)).Next(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("flipped bit: %v; want ErrCorrupt", err)
	}
	if _, _, err := NewReader(bytes.NewReader(data[:4])).Next(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated: %v; want ErrCorrupt", err)
	}
	big := NewReader(bytes.NewReader([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}))
	if _, _, err := big.Next(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("huge length: %v; want ErrCorrupt", err)
	}
}

// FuzzDec reads arbitrary bytes as every kind of field: no input panics.
func FuzzDec(f *testing.F) {
	var e Enc
	e.Value(map[string]any{"a": 1.0})
	e.String("x")
	f.Add(e.Bytes())
	f.Add([]byte{tagJSON, 3, '{', '}', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDec(data)
		for d.Err() == nil && d.off < len(d.b) {
			d.Value()
			d.Count(2)
			_ = d.String()
			d.Float64()
			d.Bool()
		}
		_, _, _ = NewReader(bytes.NewReader(data)).Next()
	})
}

func TestTreeRoundTrip(t *testing.T) {
	v := map[string]any{"a": 1.5, "b": []any{"x", nil, true, map[string]any{"c": 2}}, "d": map[string]any{}, "e": []any{}}
	var e Enc
	e.Tree(v)
	var again Enc
	again.Tree(v)
	if !bytes.Equal(e.Bytes(), again.Bytes()) {
		t.Fatal("the same tree encodes differently")
	}
	d := NewDec(e.Bytes())
	if got := d.Tree(); !reflect.DeepEqual(got, v) || d.Done() != nil {
		t.Errorf("Tree round trip = %#v (%v); want %#v", got, d.Done(), v)
	}
	deep := any(1.0)
	for i := 0; i < maxTreeDepth+1; i++ {
		deep = []any{deep}
	}
	e.Reset()
	e.Tree(deep)
	if d := NewDec(e.Bytes()); d.Tree() != nil && d.Err() == nil {
		t.Error("a tree nested beyond the limit decodes")
	}
}
