package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"gopkg.in/yaml.v3"
)

// matchKeys are the settings that define what a rule matches (SPEC §10):
// a reload keeps a rule's state only while they are unchanged.
var matchKeys = []string{"key", "where", "pattern", "within", "skip", "max_partial_matches", "threshold", "emit"}

// hashRule returns the content hash of a rule (with the file's defaults
// applied) and the hash of its matching definition. Both are computed over
// the decoded YAML rendered as JSON, whose map keys are sorted, so layout,
// comments and key order do not change them.
func hashRule(n *yaml.Node, defaults map[string]entry) (full, match string) {
	var def map[string]any
	_ = n.Decode(&def)
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
	return digest(def), digest(sub)
}

func digest(v any) string {
	data, _ := json.Marshal(v)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}
