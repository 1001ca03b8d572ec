package rules

import "slices"

// Diff is what a new ruleset changes, by rule name, each list sorted.
type Diff struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	// ChangedMatching rules start with fresh state: their matching
	// definition (MatchHash) changed, or for a sequence its kind.
	ChangedMatching []string `json:"changed_matching"`
	// ChangedPresentation rules keep their state and alert ids: only
	// their summary, severity, labels, fields, mode or description
	// changed.
	ChangedPresentation []string `json:"changed_presentation"`
	Unchanged           int      `json:"unchanged"`
}

// Empty reports whether the diff changes no rule.
func (d Diff) Empty() bool {
	return len(d.Added)+len(d.Removed)+len(d.ChangedMatching)+len(d.ChangedPresentation) == 0
}

// Compare says what replacing old by next changes. A nil old is an empty
// ruleset.
func Compare(old, next *Ruleset) Diff {
	d := Diff{Added: []string{}, Removed: []string{}, ChangedMatching: []string{}, ChangedPresentation: []string{}}
	before := map[string]*Rule{}
	if old != nil {
		for _, r := range old.Rules {
			before[r.Name] = r
		}
	}
	seen := map[string]bool{}
	for _, r := range next.Rules {
		seen[r.Name] = true
		o, ok := before[r.Name]
		switch {
		case !ok:
			d.Added = append(d.Added, r.Name)
		case o.MatchHash != r.MatchHash || (o.Sequence == nil) != (r.Sequence == nil):
			d.ChangedMatching = append(d.ChangedMatching, r.Name)
		case o.Hash != r.Hash:
			d.ChangedPresentation = append(d.ChangedPresentation, r.Name)
		default:
			d.Unchanged++
		}
	}
	for name := range before {
		if !seen[name] {
			d.Removed = append(d.Removed, name)
		}
	}
	for _, l := range [][]string{d.Added, d.Removed, d.ChangedMatching, d.ChangedPresentation} {
		slices.Sort(l)
	}
	return d
}
