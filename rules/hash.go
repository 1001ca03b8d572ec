package rules

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"gopkg.in/yaml.v3"
)

// matchKeys are the settings that define what a rule matches: a reload
// keeps a rule's state only while they are unchanged. The throttle is one
// of them because its clocks are state; so is every aggregate a threshold
// rule computes (see hashRule).
var matchKeys = []string{"key", "where", "pattern", "within", "skip", "max_partial_matches", "threshold", "emit", "throttle"}

// hashRule returns the content hash of a rule (with the file's defaults
// applied) and the hash of its matching definition. Both are computed over
// a canonical encoding of the decoded YAML (see canonical), whose map keys
// are sorted, so layout, comments and key order do not change them.
//
// aggregates are the texts of the aggregates a threshold rule's windows
// keep, wherever they are written: an alert field or summary that adds one
// changes what the windows hold, so it changes the matching definition. The
// set counts, not its order: reordering fields keeps the state.
func hashRule(n *yaml.Node, defaults map[string]entry, aggregates []string) (full, match string) {
	var def map[string]any
	_ = n.Decode(&def) // the rule was read from these nodes without error
	if def == nil {
		def = map[string]any{}
	}
	for k, e := range defaults {
		if _, set := def[k]; !set {
			var v any
			_ = e.value.Decode(&v)
			def[k] = v
		}
	}
	sub := map[string]any{}
	for _, k := range matchKeys {
		if v, ok := def[k]; ok {
			sub[k] = v
		}
	}
	if len(aggregates) > 0 {
		set := make([]any, len(aggregates))
		sorted := append([]string(nil), aggregates...)
		sort.Strings(sorted)
		for i, a := range sorted {
			set[i] = a
		}
		sub["aggregates"] = set
	}
	return digest(def), digest(sub)
}

func digest(v any) string {
	var b bytes.Buffer
	canonical(&b, v)
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:8])
}

// canonical writes v, a decoded YAML value, in an encoding that cannot
// fail: the JSON of v (so hashes stay those of json.Marshal) wherever JSON
// can encode it, and beyond that non-string map keys written as their own
// encoding (1 is not "1"), and NaN and infinities as the bare words NaN,
// +Inf and -Inf.
func canonical(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			canonical(b, k)
			b.WriteByte(':')
			canonical(b, x[k])
		}
		b.WriteByte('}')
	case map[any]any:
		type pair struct {
			key string
			v   any
		}
		pairs := make([]pair, 0, len(x))
		for k, val := range x {
			var kb bytes.Buffer
			canonical(&kb, k)
			pairs = append(pairs, pair{kb.String(), val})
		}
		sort.Slice(pairs, func(i, j int) bool { return pairs[i].key < pairs[j].key })
		b.WriteByte('{')
		for i, p := range pairs {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(p.key)
			b.WriteByte(':')
			canonical(b, p.v)
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			canonical(b, e)
		}
		b.WriteByte(']')
	case float64:
		switch {
		case math.IsNaN(x):
			b.WriteString("NaN")
		case math.IsInf(x, 1):
			b.WriteString("+Inf")
		case math.IsInf(x, -1):
			b.WriteString("-Inf")
		default:
			leaf(b, x)
		}
	default:
		leaf(b, x)
	}
}

func leaf(b *bytes.Buffer, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		// Not JSON (say, a time outside years 0-9999): its Go value,
		// typed, cannot be mistaken for JSON.
		fmt.Fprintf(b, "%T(%#v)", v, v)
		return
	}
	b.Write(data)
}
