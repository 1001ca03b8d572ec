package rules

import (
	"sort"

	"github.com/expr-lang/expr/builtin"
)

// The keys a rules file may hold, by where they are written. The loader
// accepts these and nothing else (an unknown key is an error with a "did
// you mean"), and docs/rules.md documents each of them: a test holds the
// two together.
var (
	topKeys       = []string{"defaults", "lists", "rules"}
	defaultsKeys  = []string{"key", "severity", "labels", "mode", "throttle"}
	listFileKeys  = []string{"file"}
	ruleKeys      = []string{"name", "description", "severity", "labels", "mode", "key", "where", "pattern", "within", "skip", "max_partial_matches", "threshold", "emit", "throttle", "alert"}
	stageKeys     = []string{"begin", "next", "followed_by", "followed_by_any", "not_next", "not_followed_by", "where", "group", "times", "optional", "greedy", "until", "consecutive", "allow_combinations", "within"}
	skipKeys      = []string{"skip_to_first", "skip_to_last"}
	thresholdKeys = []string{"where", "window", "condition"}
	windowKeys    = []string{"size", "type"}
	alertKeys     = []string{"summary", "fields"}
)

// keysByPlace names each list of keys by the place it is written, as
// docs/rules.md's key index does.
var keysByPlace = map[string][]string{
	"top level":        topKeys,
	"defaults":         defaultsKeys,
	"lists.NAME":       listFileKeys,
	"rule":             ruleKeys,
	"stage":            stageKeys,
	"skip":             skipKeys,
	"threshold":        thresholdKeys,
	"threshold.window": windowKeys,
	"alert":            alertKeys,
}

// Keys returns the keys a rules file may hold, by the place they are
// written ("top level", "rule", "stage", "threshold.window", …).
func Keys() map[string][]string {
	out := make(map[string][]string, len(keysByPlace))
	for place, keys := range keysByPlace {
		out[place] = append([]string(nil), keys...)
	}
	return out
}

// Functions returns the names of the functions an expression may call:
// expr-lang's builtins (now() reading the event time) and the aggregates of
// threshold rules.
func Functions() []string {
	seen := map[string]bool{}
	var out []string
	for _, b := range builtin.Builtins {
		if !seen[b.Name] {
			seen[b.Name] = true
			out = append(out, b.Name)
		}
	}
	for _, name := range aggregateNames {
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
