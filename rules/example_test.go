package rules_test

import (
	"errors"
	"fmt"

	"github.com/vigilhq/vigil/rules"
)

func ExampleLoad() {
	const payments = `
defaults:
  key: card_id
rules:
  - name: declined-velocity
    severity: high
    threshold:
      where: status == "declined"
      window: 10m
      condition: count() >= 5 && sum(amount) > 100
  - name: card-testing
    pattern:
      - begin: probe
        where: amount < 2
        times: 3..
      - followed_by: big
        where: amount > 500
    within: 10m
`
	rs, err := rules.Load([]rules.Source{{Name: "payments.yaml", Data: []byte(payments)}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rs.Rules {
		kind := "pattern"
		if r.Threshold != nil {
			kind = "threshold"
		}
		fmt.Printf("%s (%s, %s) at %s:%d\n", r.Name, kind, r.Severity, r.File, r.Line)
	}
	// Output:
	// declined-velocity (threshold, high) at payments.yaml:5
	// card-testing (pattern, medium) at payments.yaml:11
}

func ExampleErrorList() {
	const broken = `rules:
  - name: big-spend
    key: card_id
    wher: amount > 500
    threshold:
      window: 10m
      condition: sum(amount) > 1000 &&& count() > 3
`
	_, err := rules.Load([]rules.Source{{Name: "spend.yaml", Data: []byte(broken)}})
	// Printed as `vigil check` prints it: file:line:column, the rule, the
	// setting, and for expressions the line with a caret under the fault.
	fmt.Println(err)

	// Each error is also available to tools, e.g. to jump to it in an editor.
	var list rules.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Printf("%d:%d %s\n", e.Line, e.Column, e.Msg)
		}
	}
	// Output:
	// spend.yaml:4:5: rule "big-spend": unknown key "wher" (did you mean "where"?)
	// spend.yaml:7:39: rule "big-spend": threshold.condition: unexpected token Operator("&")
	//     sum(amount) > 1000 &&& count() > 3
	//                          ^
	// 4:5 unknown key "wher" (did you mean "where"?)
	// 7:39 unexpected token Operator("&")
}
