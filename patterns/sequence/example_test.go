package sequence_test

import (
	"fmt"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/patterns/sequence"
)

// Three tiny declined authorizations followed by a large one on the same
// card within ten minutes.
func Example() {
	probe := func(ev *event.Event, _ sequence.Context) bool {
		return ev.Fields["status"] == "declined" && ev.Fields["amount"].(float64) < 2
	}
	big := func(ev *event.Event, _ sequence.Context) bool {
		return ev.Fields["amount"].(float64) > 500
	}
	nfa, err := sequence.Compile(sequence.Pattern{
		Stages: []sequence.Stage{
			{Name: "probe", Kind: sequence.Begin, Where: probe, Min: 3, Max: sequence.Unbounded},
			{Name: "big", Kind: sequence.FollowedBy, Where: big},
		},
		Within: 10 * 60 * 1000,
		// Skip is SkipPastLastEvent, vigil's default: one alert per incident.
	})
	if err != nil {
		panic(err)
	}

	st := nfa.NewState() // one State per key (card)
	tx := []struct {
		id     string
		t      int64
		amount float64
		status string
	}{
		{"t1", 1000, 1, "declined"},
		{"t2", 2000, 0.5, "declined"},
		{"t3", 3000, 1.5, "declined"},
		{"t4", 4000, 25, "approved"},
		{"t5", 5000, 900, "approved"},
	}
	for i, x := range tx {
		ev := &event.Event{ID: x.id, Time: x.t, Seq: uint64(i), Fields: map[string]any{"amount": x.amount, "status": x.status}}
		nfa.Advance(st, ev, func(m sequence.Match) {
			for _, s := range m.Stages {
				fmt.Print(s.Stage, ":")
				for _, e := range s.Events {
					fmt.Print(" ", e.ID)
				}
				fmt.Print("; ")
			}
			fmt.Println("at", m.Time)
		})
	}
	fmt.Println("partial matches left:", st.PartialMatches())
	// Output:
	// probe: t1 t2 t3; big: t5; at 5000
	// partial matches left: 0
}
