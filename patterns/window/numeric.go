package window

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
)

// number converts a Go numeric value to float64. ok is false for nil and
// for values that are not numbers. The type switch covers the usual types
// without reflection; reflection is only the fallback for named numeric
// types.
func number(v any) (f float64, ok bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case nil, string, bool:
		return 0, false
	case float32:
		return float64(x), true
	case int32:
		return float64(x), true
	case int16:
		return float64(x), true
	case int8:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uintptr:
		return float64(x), true
	case json.Number:
		p, err := strconv.ParseFloat(string(x), 64)
		return p, err == nil
	case map[string]any, []any:
		return 0, false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	}
	return 0, false
}

// finite returns v as a float64 when it is a finite number.
func finite(v any) (float64, bool) {
	f, ok := number(v)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// ksum is a compensated (Kahan–Babuška–Neumaier) running sum: s + c is the
// sum, c collects the low-order bits lost by each addition. Removing a value
// is adding its negation, with the same compensation.
type ksum struct{ s, c float64 }

func (k *ksum) add(x float64) {
	t := k.s + x
	if math.Abs(k.s) >= math.Abs(x) {
		k.c += (k.s - t) + x
	} else {
		k.c += (x - t) + k.s
	}
	k.s = t
}

func (k ksum) value() float64 { return k.s + k.c }

// Kinds of distinct keys.
const (
	keyMissing uint8 = iota
	keyNumber
	keyString
	keyBool
	keyJSON // canonical JSON text of any other value
)

// dkey is the comparable form of a distinct(x) argument. Numbers are keyed
// by their float64 value (Go hashes +0 and -0 alike), strings by
// themselves; keys of different kinds never collide. Building one does not
// allocate for numbers, strings and bools.
type dkey struct {
	kind uint8
	num  float64
	str  string
}

func keyOf(v any) dkey {
	switch x := v.(type) {
	case nil:
		return dkey{}
	case string:
		return dkey{kind: keyString, str: x}
	case bool:
		if x {
			return dkey{kind: keyBool, num: 1}
		}
		return dkey{kind: keyBool}
	}
	if f, ok := number(v); ok {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return dkey{}
		}
		return dkey{kind: keyNumber, num: f}
	}
	switch rv := reflect.ValueOf(v); rv.Kind() { // named string and bool types
	case reflect.String:
		return dkey{kind: keyString, str: rv.String()}
	case reflect.Bool:
		if rv.Bool() {
			return dkey{kind: keyBool, num: 1}
		}
		return dkey{kind: keyBool}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dkey{} // not representable (NaN inside, channels, ...): missing
	}
	return dkey{kind: keyJSON, str: string(b)}
}
