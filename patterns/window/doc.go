// Package window keeps the aggregates of threshold rules
// incrementally over one key's events inside a window.
//
// The engine owns one *Window per rule and key. For every event that enters
// the rule's window it evaluates the argument expression of each aggregate
// and calls Add with the results; it moves the window forward with
// EvictThrough (sliding windows: EvictThrough(t - W) before or after adding
// the event at t, so that the window is (t-W, t]) or empties it with Reset
// (tumbling windows, at each window end); and it reads the aggregates with
// Values to evaluate the rule's condition and fill the alert's `values`,
// and the ids of the events in the window with EventIDs for `event_ids`.
//
// # Aggregates
//
//	count()       number of events in the window                           int
//	count(expr)   number of events whose argument is the bool true          int
//	sum(x)        sum of the numeric arguments; 0 when there is none        float64
//	avg(x)        arithmetic mean of the numeric arguments                  float64 or nil
//	min(x)        smallest numeric argument                                 float64 or nil
//	max(x)        largest numeric argument                                  float64 or nil
//	stddev(x)     POPULATION standard deviation of the numeric arguments    float64 or nil
//	distinct(x)   number of distinct non-missing arguments                  int
//	first(x)      argument of the oldest event that has one                 the value or nil
//	last(x)       argument of the newest event that has one                 the value or nil
//
// stddev is the population standard deviation, sqrt(Σ(x-mean)²/n): it is
// defined for a single value (0), which the sample standard deviation
// (divisor n-1) is not. avg, min, max and stddev are nil when no event in
// the window has a numeric argument.
//
// # Missing values
//
// An argument is missing when it is nil or absent (args shorter than the
// aggregates). For sum, avg, min, max and stddev it is also missing when it
// is not a number (strings such as "12" are not converted) or when it is
// NaN or ±Inf: a non-finite value would poison a running sum forever, even
// after it left the window. For distinct, NaN and ±Inf are missing too. For
// count(expr) anything but the bool true does not count. For first and last
// only nil is missing: they return the raw argument, whatever its type.
// An event whose argument is missing for an aggregate does not contribute
// to that aggregate, but it is in the window: it counts for count() and its
// id is in EventIDs.
//
// Numbers may be of any Go numeric type (float64 as decoded by
// encoding/json, int, int64, uint8, float32, json.Number, named numeric
// types, ...); they are converted to float64. distinct compares numbers
// numerically, so 1, int64(1) and 1.0 are one value, but a number is never
// equal to a string or a bool ("1" and 1 are two values). Maps, slices and
// other values are compared by their canonical JSON text (encoding/json
// sorts object keys), so {"a":1,"b":2} and {"b":2,"a":1} are one value.
//
// # Cost
//
// Add and EvictThrough cost O(1) amortized per event and aggregate, and do
// not allocate in steady state (the buffers are reused; only distinct over
// maps and slices, which marshals them, allocates per event). Sums use
// compensated (Kahan–Babuška–Neumaier) summation for both adding and
// removing, are reset to exactly zero whenever their value set becomes
// empty, and are recomputed from the stored values once the window has
// turned over completely (amortized O(1)), so a long-lived sliding window
// does not drift. stddev keeps the count, Σ(x-ref) and Σ(x-ref)² of the
// values shifted by a reference value ref taken from the data, which avoids
// catastrophic cancellation for data far from zero; when the data moves
// far from ref relative to its spread, ref is chosen again (the value
// nearest the mean) and the sums recomputed, again O(1) amortized; a tiny
// negative variance left by rounding is clamped to 0. min and max use
// monotonic deques (the window is FIFO, since events arrive in time order).
// distinct keeps a key→slot map and a count per slot; each event remembers
// its slot, so evicting it only decrements a count, and a key is deleted
// from the map when its count reaches zero.
//
// Memory is bounded by the events inside the window, never by the history
// of the key: the window stores only each event's id and time and, per
// aggregate, what that aggregate needs to undo the event (a bool for
// count(expr), a float64 for sum/avg/stddev, a slot number for distinct;
// min, max and first keep only candidates, last and count() nothing).
// Aggregates that were not requested cost nothing. The buffers are rings
// that grow by doubling and shrink (from 32 entries up) when at most a
// quarter full; the distinct map is rebuilt smaller once most of its keys
// are gone, since Go maps do not shrink by themselves. Reset keeps small
// buffers for the next tumbling window and releases large ones.
//
// # Snapshots
//
// Window.Encode writes a window's complete state with the fields of
// package internal/wire, and Decode reads it back for the rule's current
// aggregates (matched by Func and Text, in any order); Window.Reorder puts
// a live window's aggregates in a new order. The payload, version 1:
//
//	version        uvarint, 1; Decode rejects any other
//	aggregates     uvarint count k, then k × (Func uvarint, Text string)
//	base           uvarint: sequence number of the oldest event
//	sinceRebuild   uvarint: evictions since the float sums were recomputed
//	events         uvarint count n, then n × (id string, time), oldest
//	               first; the first time is a varint, each next one a
//	               uvarint, its distance from the previous one
//	states         one per aggregate, in the order of the aggregates above:
//
//	count()        nothing
//	count(expr)    trues uvarint; n × bool (the event counts)
//	sum, avg       nvals uvarint; sum.s, sum.c float64; n × float64 value
//	stddev         nvals uvarint; ref, dsum.s, dsum.c, dsq.s, dsq.c float64;
//	               ops uvarint; n × float64 value
//	min, max       uvarint count m, m × (offset uvarint, value float64):
//	               the candidate deque, oldest first
//	distinct       uvarint count s, s × slot: events uvarint, 0 for a free
//	               slot, else key kind uvarint (1 number, 2 string, 3 bool,
//	               4 JSON text) and the key (float64, string, bool or
//	               string); uvarint count f, f × free slot number uvarint
//	               (the free list as kept: the last one is reused first);
//	               n × (event's slot number + 1) uvarint, 0 when missing
//	first          uvarint count m, m × (offset uvarint, value wire Value)
//	last           ok bool; when ok, offset uvarint, value wire Value
//
// Floats are their exact bits; an event's float64 value is NaN when its
// argument is missing. An offset is an event's sequence number minus base
// (its position in the window); offsets increase along a deque. sum and
// avg keep ksum{s, c}, a compensated sum; stddev keeps none (its sum is
// always zero) and sum and avg no shifted sums (always zero). The distinct
// key→slot map is not written: it is rebuilt from the live slots. Decode
// checks everything that ties the fields together (counts against the
// per-event fields, offsets inside the window and in order, monotonic
// candidates, slot numbers, the free list against the free slots, unique
// keys), so that a payload it accepts is a window Add, EvictThrough and
// Reset work on.
//
// A Window is not safe for concurrent use.
package window
