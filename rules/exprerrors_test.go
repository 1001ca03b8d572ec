package rules

import "testing"

func TestMergeExprErrors(t *testing.T) {
	a := ExprError{Rule: "r", Field: "where", Source: "x > 1", Line: 4, Column: 12, Count: 2,
		Samples: []ErrorSample{{EventID: "e1"}, {EventID: "e2"}}}
	b := a
	b.Count, b.Samples = 5, []ErrorSample{{EventID: "e7"}, {EventID: "e8"}, {EventID: "e9"}}
	other := ExprError{Rule: "r", Field: "threshold.condition", Source: "count() > 1", Line: 2, Column: 3, Count: 1}
	got := MergeExprErrors(MergeExprErrors(nil, []ExprError{a}), []ExprError{b, other})
	if len(got) != 2 || got[0].Field != "threshold.condition" || got[1].Count != 7 || len(got[1].Samples) != MaxErrorSamples ||
		got[1].Samples[2].EventID != "e7" {
		t.Errorf("MergeExprErrors = %+v; want the condition first (line 2), then where with 7 errors and samples e1 e2 e7", got)
	}
	if len(a.Samples) != 2 {
		t.Errorf("merging changed its input: %+v", a.Samples)
	}
}
