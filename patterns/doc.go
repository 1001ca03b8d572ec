// Package patterns holds vigil's pure matchers: no I/O, no expression
// language, no clocks. The engine in cep/ feeds them one key's events in
// event-time order and asks them to advance time.
//
//   - patterns/sequence: the FlinkCEP-style NFA for sequence rules.
//   - patterns/window: incremental aggregates over sliding and tumbling
//     windows for threshold rules.
//
// Conditions reach the matchers as Go closures compiled by package rules, so
// the matchers can be tested with plain functions.
package patterns
