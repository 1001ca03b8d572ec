package window

import "strconv"

// Func is an aggregate function of a threshold condition.
type Func uint8

// The aggregate functions. Except for Count, each takes one argument.
const (
	// Count is count(): the number of events in the window. Its argument
	// is ignored.
	Count Func = iota
	// CountIf is count(expr): the number of events in the window whose
	// argument is the bool true.
	CountIf
	// Sum is sum(x): the sum of the numeric arguments, 0 when there is none.
	Sum
	// Avg is avg(x): the mean of the numeric arguments, nil when none.
	Avg
	// Min is min(x): the smallest numeric argument, nil when none.
	Min
	// Max is max(x): the largest numeric argument, nil when none.
	Max
	// Distinct is distinct(x): the number of distinct non-missing arguments.
	Distinct
	// Stddev is stddev(x): the population standard deviation of the numeric
	// arguments (0 for a single value), nil when none.
	Stddev
	// First is first(x): the argument of the oldest event in the window
	// that has a non-nil one, or nil.
	First
	// Last is last(x): the argument of the newest event in the window that
	// has a non-nil one, or nil.
	Last
)

var funcNames = [...]string{
	Count:    "count",
	CountIf:  "count",
	Sum:      "sum",
	Avg:      "avg",
	Min:      "min",
	Max:      "max",
	Distinct: "distinct",
	Stddev:   "stddev",
	First:    "first",
	Last:     "last",
}

// ParseFunc returns the function named name in a rule ("count", "sum",
// "avg", "min", "max", "distinct", "stddev", "first", "last"), and false
// for any other name. Names are case-sensitive. "count" gives Count: the
// caller turns it into CountIf when the call has an argument.
func ParseFunc(name string) (Func, bool) {
	switch name {
	case "count":
		return Count, true
	case "sum":
		return Sum, true
	case "avg":
		return Avg, true
	case "min":
		return Min, true
	case "max":
		return Max, true
	case "distinct":
		return Distinct, true
	case "stddev":
		return Stddev, true
	case "first":
		return First, true
	case "last":
		return Last, true
	}
	return 0, false
}

// String returns the function's name in the rule language. Both Count and
// CountIf are "count"; they differ by their number of arguments.
func (f Func) String() string {
	if int(f) < len(funcNames) {
		return funcNames[f]
	}
	return "Func(" + strconv.Itoa(int(f)) + ")"
}

// Aggregate is one aggregate call of a threshold condition.
type Aggregate struct {
	// Func is the aggregate function.
	Func Func
	// Text is the call's source text, such as "sum(amount)": the key of
	// its value under the alert's `values`. The window does not use it.
	Text string
}
