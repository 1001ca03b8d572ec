package event

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a single-pass decoder of one JSON object into map[string]any.
// It gives exactly what json.Unmarshal gives into a map[string]any (objects
// as map[string]any, arrays as []any, numbers as float64 from
// strconv.ParseFloat, strings with invalid UTF-8 and lone surrogates turned
// into U+FFFD), but checks the syntax, enforces the nesting limit and builds
// the values in the same pass, without reflection.
//
// FuzzDecodeJSON in json_test.go checks it against encoding/json.

// jsonMaxNesting is encoding/json's own limit on nesting: deeper input is a
// syntax error there ("exceeded max depth"), so it is here too. It also bounds
// the recursion of the parser whatever Decoder.MaxDepth says.
const jsonMaxNesting = 10000

// Capacity hints of the decoded objects: an event usually has a dozen
// fields or so, a nested object (a merchant, a device) a few. 8 is one group
// of the runtime's maps; 16 saves the top-level map a growth.
const (
	topMapHint    = 16
	nestedMapHint = 8
)

// jsonParser decodes one JSON text. It is used once, for one Decode call.
type jsonParser struct {
	data     []byte
	pos      int
	depth    int // current nesting of objects and arrays
	maxDepth int // Decoder.MaxDepth
	limit    int // min(maxDepth, jsonMaxNesting)

	err    *Error // first syntax or depth error; parsing stops there
	numErr *Error // first out-of-range number; reported only if the syntax is valid, as encoding/json does

	buf   []byte // scratch for strings with escapes or invalid UTF-8
	stack []any  // scratch for the elements of the arrays being decoded

	// idKey names a top-level field whose number literal is kept in idLit
	// (the last occurrence wins, like the decoded value).
	idKey string
	idLit []byte
}

// decodeObject decodes data, which must hold exactly one JSON object
// (surrounded by optional whitespace). Errors are *Error with
// ReasonMalformed or ReasonTooDeep.
func (p *jsonParser) decodeObject(data []byte, maxDepth int) (map[string]any, error) {
	p.data, p.pos, p.depth, p.maxDepth = data, 0, 0, maxDepth
	p.limit = min(maxDepth, jsonMaxNesting)
	p.skipSpace()
	if p.pos == len(data) {
		p.eof()
		return nil, p.err
	}
	first := data[p.pos]
	var m map[string]any
	if first == '{' {
		m = p.object()
	} else {
		// Check the whole value first, as json.Unmarshal does: a
		// malformed array is a syntax error, not "an array".
		p.value()
	}
	if p.err == nil {
		p.skipSpace()
		if p.pos < len(data) {
			p.syntax("after top-level value")
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	if first != '{' {
		kind := "a JSON number"
		switch first {
		case '[':
			kind = "a JSON array"
		case '"':
			kind = "a JSON string"
		case 't', 'f':
			kind = "a JSON bool"
		case 'n':
			kind = "null"
		}
		return nil, reject(ReasonMalformed, "not a JSON object: %s", kind)
	}
	if p.numErr != nil {
		return nil, p.numErr
	}
	return m, nil
}

// syntax records a syntax error at the byte at p.pos.
func (p *jsonParser) syntax(context string) {
	if p.err == nil {
		p.err = newError(ReasonMalformed, "not a JSON object: invalid character %s %s at offset %d",
			quoteChar(p.data[p.pos]), context, p.pos)
	}
}

// eof records a syntax error at the end of the input.
func (p *jsonParser) eof() {
	if p.err == nil {
		p.err = newError(ReasonMalformed, "not a JSON object: unexpected end of JSON input at offset %d", p.pos)
	}
}

// enter starts an object or array at p.pos; false when it nests too deep.
func (p *jsonParser) enter() bool {
	p.depth++
	if p.depth <= p.limit {
		return true
	}
	if p.depth > p.maxDepth {
		// The whole input nests at least this deep (the prefix read so far
		// is valid JSON, so nestingDepth counts it right): report its
		// deepest nesting, as the check before decoding used to.
		depth := max(nestingDepth(p.data), p.depth)
		p.err = newError(ReasonTooDeep, "event nests %d levels, over the limit of %d", depth, p.maxDepth)
	} else {
		p.err = newError(ReasonMalformed, "not a JSON object: exceeded max depth of %d at offset %d", jsonMaxNesting, p.pos)
	}
	return false
}

func (p *jsonParser) skipSpace() {
	data, i := p.data, p.pos
	for i < len(data) {
		switch data[i] {
		case ' ', '\n', '\r', '\t':
			i++
			continue
		}
		break
	}
	p.pos = i
}

// value decodes the value at p.pos, which is not whitespace.
func (p *jsonParser) value() any {
	if p.pos >= len(p.data) {
		p.eof()
		return nil
	}
	switch c := p.data[p.pos]; c {
	case '"':
		return p.str()
	case '{':
		return p.object()
	case '[':
		return p.array()
	case 't':
		p.literal("true")
		return true
	case 'f':
		p.literal("false")
		return false
	case 'n':
		p.literal("null")
		return nil
	default:
		if c == '-' || '0' <= c && c <= '9' {
			f, ok := p.number()
			if !ok {
				return nil
			}
			return f
		}
		p.syntax("looking for beginning of value")
		return nil
	}
}

func (p *jsonParser) literal(lit string) {
	data := p.data
	for i := 1; i < len(lit); i++ {
		p.pos++
		if p.pos >= len(data) {
			p.eof()
			return
		}
		if data[p.pos] != lit[i] {
			p.syntax("in literal " + lit + " (expecting " + quoteChar(lit[i]) + ")")
			return
		}
	}
	p.pos++
}

// object decodes the object at p.pos; nil after an error.
func (p *jsonParser) object() map[string]any {
	if !p.enter() {
		return nil
	}
	data := p.data
	p.pos++ // '{'
	hint := nestedMapHint
	if p.depth == 1 {
		hint = topMapHint
	}
	m := make(map[string]any, hint)
	p.skipSpace()
	if p.pos < len(data) && data[p.pos] == '}' {
		p.pos++
		p.depth--
		return m
	}
	for {
		if p.pos >= len(data) {
			p.eof()
			return nil
		}
		if data[p.pos] != '"' {
			p.syntax("looking for beginning of object key string")
			return nil
		}
		k := p.str()
		if p.err != nil {
			return nil
		}
		p.skipSpace()
		if p.pos >= len(data) {
			p.eof()
			return nil
		}
		if data[p.pos] != ':' {
			p.syntax("after object key")
			return nil
		}
		p.pos++
		p.skipSpace()
		start := p.pos
		v := p.value()
		if p.err != nil {
			return nil
		}
		m[k] = v
		if p.depth == 1 && p.idKey != "" && k == p.idKey {
			if _, isNum := v.(float64); isNum {
				p.idLit = data[start:p.pos]
			} else {
				p.idLit = nil
			}
		}
		p.skipSpace()
		if p.pos >= len(data) {
			p.eof()
			return nil
		}
		switch data[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
		case '}':
			p.pos++
			p.depth--
			return m
		default:
			p.syntax("after object key:value pair")
			return nil
		}
	}
}

// array decodes the array at p.pos. Its elements are gathered on p.stack
// and copied into a slice of the exact length at the end.
func (p *jsonParser) array() any {
	if !p.enter() {
		return nil
	}
	data := p.data
	p.pos++ // '['
	p.skipSpace()
	if p.pos < len(data) && data[p.pos] == ']' {
		p.pos++
		p.depth--
		return []any{}
	}
	base := len(p.stack)
	for {
		p.skipSpace()
		v := p.value()
		if p.err != nil {
			return nil
		}
		p.stack = append(p.stack, v)
		p.skipSpace()
		if p.pos >= len(data) {
			p.eof()
			return nil
		}
		switch data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.depth--
			a := make([]any, len(p.stack)-base)
			copy(a, p.stack[base:])
			clear(p.stack[base:]) // drop references for the GC
			p.stack = p.stack[:base]
			return a
		default:
			p.syntax("after array element")
			return nil
		}
	}
}

// number decodes the number at p.pos, whose first byte is '-' or a digit.
// ok is false after a syntax error or when the number is out of the range of
// a float64 (recorded in p.numErr, as encoding/json reports it only when the
// whole input is valid).
func (p *jsonParser) number() (f float64, ok bool) {
	data := p.data
	start := p.pos
	i := start
	neg := data[i] == '-'
	if neg {
		i++
	}
	// Integer part: 0 or [1-9][0-9]*.
	if i >= len(data) {
		p.pos = i
		p.eof()
		return 0, false
	}
	switch c := data[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		i++
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	default:
		p.pos = i
		p.syntax("in numeric literal")
		return 0, false
	}
	simple := true
	// Fraction.
	if i < len(data) && data[i] == '.' {
		simple = false
		var ok bool
		if i, ok = p.digits(data, i+1, "after decimal point in numeric literal"); !ok {
			return 0, false
		}
	}
	// Exponent.
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		simple = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		var ok bool
		if i, ok = p.digits(data, i, "in exponent of numeric literal"); !ok {
			return 0, false
		}
	}
	p.pos = i
	lit := data[start:i]
	// Integers of up to 15 digits are exact in a float64: no need for
	// ParseFloat, whose correctly rounded result is the same.
	if digits := lit[b2i(neg):]; simple && len(digits) <= 15 {
		var n int64
		for _, c := range digits {
			n = n*10 + int64(c-'0')
		}
		f = float64(n)
		if neg {
			f = -f
		}
		return f, true
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		if p.numErr == nil {
			p.numErr = newError(ReasonMalformed, "not a JSON object: number %s out of range at offset %d", lit, start)
		}
		return 0, false
	}
	return f, true
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// strPlain marks the bytes a string can hold as they are: not '"', '\\', a
// control character or a non-ASCII byte (which must be checked as UTF-8).
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str decodes the string at p.pos. A string without escapes or invalid UTF-8
// is converted in one allocation, straight from the input.
func (p *jsonParser) str() string {
	data := p.data
	start := p.pos + 1
	i := start
	for i < len(data) {
		c := data[i]
		if strPlain[c] {
			i++
			continue
		}
		if c == '"' {
			p.pos = i + 1
			return string(data[start:i])
		}
		if c < utf8.RuneSelf {
			break // '\\' or a control character
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	return p.strSlow(start, i)
}

// strSlow finishes the string that started at start, after the plain bytes
// up to i: it decodes escapes, turns invalid UTF-8 into U+FFFD and checks the
// syntax, like encoding/json.
func (p *jsonParser) strSlow(start, i int) string {
	data := p.data
	b := append(p.buf[:0], data[start:i]...)
	for {
		if i >= len(data) {
			p.pos = i
			p.eof()
			return ""
		}
		c := data[i]
		switch {
		case c == '"':
			p.pos = i + 1
			p.buf = b
			return string(b)
		case c == '\\':
			if i+1 >= len(data) {
				p.pos = i + 1
				p.eof()
				return ""
			}
			switch e := data[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, n := hex4(data[i+2:])
				if n < 4 {
					p.pos = i + 2 + n
					if p.pos >= len(data) {
						p.eof()
					} else {
						p.syntax("in \\u hexadecimal character escape")
					}
					return ""
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// A pair of escapes makes one rune; anything else is
					// U+FFFD, and the escape that follows, if any, is
					// decoded on its own.
					r2 := rune(-1)
					if i+1 < len(data) && data[i] == '\\' && data[i+1] == 'u' {
						if x, n := hex4(data[i+2:]); n == 4 {
							r2 = x
						}
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				p.pos = i + 1
				p.syntax("in string escape code")
				return ""
			}
			i += 2
		case c < ' ':
			p.pos = i
			p.syntax("in string literal")
			return ""
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			b = utf8.AppendRune(b, r) // U+FFFD for invalid UTF-8
			i += size
		}
	}
}

// hex4 decodes up to 4 hexadecimal digits at the start of s: the value and
// how many digits there were before the first non-digit (4 when valid).
func hex4(s []byte) (rune, int) {
	var r rune
	for n := 0; n < 4; n++ {
		if n >= len(s) {
			return r, n
		}
		c := s[n]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return r, n
		}
		r = r*16 + rune(c)
	}
	return r, 4
}

func newError(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// quoteChar formats c as encoding/json does in its syntax errors.
func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(c))
	return "'" + s[1:len(s)-1] + "'"
}

// digits reads the run of at least one digit that must start at i (after a
// decimal point, or in an exponent) and returns the index after it.
func (p *jsonParser) digits(data []byte, i int, where string) (int, bool) {
	if i >= len(data) {
		p.pos = i
		p.eof()
		return 0, false
	}
	if data[i] < '0' || data[i] > '9' {
		p.pos = i
		p.syntax(where)
		return 0, false
	}
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i, true
}
