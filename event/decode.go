package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Reasons an event is rejected. They are stable strings: metrics label by
// them and dead-letter records carry them.
const (
	ReasonMalformed = "malformed" // not a JSON object
	ReasonTooLarge  = "too_large" // over the size limit
	ReasonTooDeep   = "too_deep"  // nested deeper than the limit
	ReasonNoTime    = "no_time"   // time field missing
	ReasonBadTime   = "bad_time"  // time field present but not a valid time
	ReasonLate      = "late"      // below the watermark on arrival (set by the engine)
	ReasonBadID     = "bad_id"    // id field of an unusable type
)

// Error is a rejected event: why, and a human-readable message.
type Error struct {
	Reason string
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// ReasonOf returns the rejection reason of err, or "error" when err is not
// an *Error.
func ReasonOf(err error) string {
	var ee *Error
	if errors.As(err, &ee) {
		return ee.Reason
	}
	return "error"
}

func reject(reason, format string, args ...any) error {
	return &Error{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// Defaults of the event format.
const (
	DefaultTimeField = "ts"
	DefaultIDField   = "id"
	DefaultMaxSize   = 1 << 20
	DefaultMaxDepth  = 32
)

// Decoder turns JSON objects into events. The zero value uses the defaults.
type Decoder struct {
	TimeField string // default "ts"
	IDField   string // default "id"
	MaxSize   int    // bytes; default 1 MiB
	MaxDepth  int    // nesting levels; default 32
	// ProcessingTime uses Now() instead of the time field
	// (`time: processing`).
	ProcessingTime bool
	Now            func() time.Time // default time.Now
	// TimeUnit is the unit of integer times: "s" for Unix seconds; "ms"
	// for Unix milliseconds, rejecting integers that read as a time before
	// 1980 (nearly always seconds sent by mistake); "" (the library's
	// default) for milliseconds of any value.
	TimeUnit string
}

// Time units of Decoder.TimeUnit.
const (
	UnitMillis       = "ms"
	UnitSeconds      = "s"
	secondsThreshold = 315532800000 // 1980-01-01T00:00:00Z in ms
)

func (d *Decoder) timeField() string {
	if d.TimeField == "" {
		return DefaultTimeField
	}
	return d.TimeField
}

func (d *Decoder) idField() string {
	if d.IDField == "" {
		return DefaultIDField
	}
	return d.IDField
}

// Decode parses one JSON object. pos names the event's place in its source
// (for example "events.ndjson:12"); it becomes the id of an event that has no
// id field, so that replaying the same input yields the same alert ids.
func (d *Decoder) Decode(data []byte, pos string) (*Event, error) {
	maxSize := d.MaxSize
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if len(data) > maxSize {
		return nil, reject(ReasonTooLarge, "event is %d bytes, over the limit of %d", len(data), maxSize)
	}
	maxDepth := d.MaxDepth
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	p := jsonParser{idKey: d.idField()}
	fields, err := p.decodeObject(data, maxDepth)
	if err != nil {
		return nil, err
	}
	ev, err := d.FromMap(fields, pos)
	if err != nil {
		return nil, err
	}
	// A float64 holds integers exactly only up to 2^53: distinct large
	// numeric ids (snowflake ids, offsets) would collide. Take such an id
	// from its literal text instead.
	if f, ok := fields[d.idField()].(float64); ok && math.Abs(f) >= 1<<53 {
		if lit := integerText(p.idLit); lit != "" {
			ev.ID = lit
		}
	}
	return ev, nil
}

// integerText returns lit, the literal of a JSON number, when it is an
// integer, or "".
func integerText(lit []byte) string {
	digits := lit
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return ""
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return ""
		}
	}
	return string(lit)
}

// FromMap builds an event from an already decoded object. The map is kept,
// not copied.
func (d *Decoder) FromMap(fields map[string]any, pos string) (*Event, error) {
	ev := &Event{Fields: fields}
	if d.ProcessingTime {
		now := time.Now
		if d.Now != nil {
			now = d.Now
		}
		ev.Time = now().UnixMilli()
	} else {
		tf := d.timeField()
		raw, ok := fields[tf]
		if !ok || raw == nil {
			return nil, reject(ReasonNoTime, "missing time field %q", tf)
		}
		t, err := d.timeValue(raw)
		if err != nil {
			return nil, reject(ReasonBadTime, "time field %q: %v", tf, err)
		}
		ev.Time = t
	}
	switch id := fields[d.idField()].(type) {
	case nil:
		ev.ID = pos
	case string:
		if id == "" {
			ev.ID = pos
		} else {
			ev.ID = id
		}
	case float64:
		ev.ID = strconv.FormatFloat(id, 'f', -1, 64)
	case json.Number:
		ev.ID = id.String()
	case int:
		ev.ID = strconv.Itoa(id)
	case int64:
		ev.ID = strconv.FormatInt(id, 10)
	default:
		return nil, reject(ReasonBadID, "id field %q must be a string or a number, not %T", d.idField(), id)
	}
	return ev, nil
}

// Bounds of the times RFC 3339 can write: years 0000 to 9999 in UTC.
const (
	minTime = -62167219200000 // 0000-01-01T00:00:00.000Z
	maxTime = 253402300799999 // 9999-12-31T23:59:59.999Z
)

// TimeValue converts a decoded time field: an RFC 3339 string or an integer
// number of Unix milliseconds. Times outside the years 0000-9999 in UTC are
// rejected: vigil writes every time as RFC 3339 (FormatTime), which cannot
// represent them.
func TimeValue(v any) (int64, error) {
	ms, err := timeValue(v)
	if err == nil && (ms < minTime || ms > maxTime) {
		if s, ok := v.(string); ok {
			v = strconv.Quote(s)
		}
		return 0, fmt.Errorf("%v is outside the years 0000-9999 that RFC 3339 can represent", v)
	}
	return ms, err
}

// timeValue reads a time field in the decoder's unit of integer times.
func (d *Decoder) timeValue(v any) (int64, error) {
	if _, isString := v.(string); isString || d.TimeUnit == "" {
		return TimeValue(v)
	}
	if d.TimeUnit == UnitSeconds {
		var secs float64
		switch t := v.(type) {
		case float64:
			secs = t
		case int64:
			secs = float64(t)
		case int:
			secs = float64(t)
		case json.Number:
			f, err := t.Float64()
			if err != nil {
				return 0, fmt.Errorf("%v is not a number of Unix seconds", t)
			}
			secs = f
		default:
			return TimeValue(v)
		}
		ms := math.Round(secs * 1000)
		if math.IsInf(secs, 0) || math.IsNaN(secs) || math.Abs(secs*1000-ms) > 1e-3 {
			return 0, fmt.Errorf("%v is not Unix seconds with at most millisecond precision", v)
		}
		return TimeValue(ms)
	}
	ms, err := TimeValue(v)
	if err == nil && ms < secondsThreshold {
		return 0, fmt.Errorf("%d looks like Unix seconds: as milliseconds it is %s; send Unix milliseconds (seconds × 1000), "+
			"or set the time unit to seconds (time.unit: s in the config, --time-unit s, time_unit: s in a test file)", ms, FormatTime(ms))
	}
	return ms, err
}

// ParseRFC3339 reads an RFC 3339 time with any fractional precision. As
// RFC 3339 allows (section 5.6), the T and Z may be lower case; a comma
// before the fraction, which Go's parser accepts, is not RFC 3339.
func ParseRFC3339(s string) (time.Time, error) {
	if strings.ContainsRune(s, ',') {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (the fraction of a second follows a '.', not a ',')", s)
	}
	if len(s) > 10 && s[10] == 't' {
		s = s[:10] + "T" + s[11:]
	}
	if strings.HasSuffix(s, "z") {
		s = s[:len(s)-1] + "Z"
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
	}
	return t, nil
}

func timeValue(v any) (int64, error) {
	switch t := v.(type) {
	case string:
		tm, err := ParseRFC3339(t)
		if err != nil {
			return 0, err
		}
		return tm.UnixMilli(), nil
	case float64:
		if t != math.Trunc(t) || math.IsInf(t, 0) || math.Abs(t) > 1<<53 {
			return 0, fmt.Errorf("%v is not an integer of Unix milliseconds", t)
		}
		return int64(t), nil
	case int64:
		return t, nil
	case int:
		return int64(t), nil
	case json.Number:
		n, err := t.Int64()
		if err != nil {
			return 0, fmt.Errorf("%v is not an integer of Unix milliseconds", t)
		}
		return n, nil
	case time.Time:
		return t.UnixMilli(), nil
	default:
		return 0, fmt.Errorf("want an RFC 3339 string or Unix milliseconds, got %T", v)
	}
}

// nestingDepth returns the deepest nesting of objects and arrays in a JSON
// text, ignoring brackets inside strings. The decoder enforces the limit as
// it goes (json.go) and stops at the first level over it; this scan only
// measures a rejected input for its message.
func nestingDepth(data []byte) int {
	depth, maxDepth := 0, 0
	inString, escaped := false, false
	for _, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > maxDepth {
				maxDepth = depth
			}
		case '}', ']':
			depth--
		}
	}
	return maxDepth
}
