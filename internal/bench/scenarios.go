package bench

import (
	"math/rand"
	"strconv"

	"github.com/vigilhq/vigil/event"
)

// Scenarios are the workloads `vigil bench` knows.
var Scenarios = []Scenario{velocity, sequence3}

// Find returns the scenario of that name.
func Find(name string) (Scenario, bool) {
	for _, s := range Scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

var keyNames = map[int][]string{}

func keyName(i, keys int) string {
	names := keyNames[keys]
	if names == nil {
		names = make([]string, keys)
		for k := range names {
			names[k] = "card-" + strconv.Itoa(k)
		}
		keyNames[keys] = names
	}
	return names[i]
}

// velocity: declined authorisations per card in a sliding 10-minute window.
var velocity = Scenario{
	Name: "velocity",
	Rules: `rules:
  - name: declined-velocity
    key: card_id
    where: type == "auth"
    threshold:
      where: status == "declined"
      window: 10m
      condition: count() >= 5 && sum(amount) > 100
`,
	Event: func(r *rand.Rand, i, keys int, t int64) *event.Event {
		status := "approved"
		if r.Intn(4) == 0 {
			status = "declined"
		}
		return &event.Event{ID: strconv.Itoa(i), Time: t, Fields: map[string]any{
			"id": strconv.Itoa(i), "ts": float64(t), "type": "auth", "card_id": keyName(r.Intn(keys), keys),
			"status": status, "amount": float64(r.Intn(100)),
		}}
	},
	Baseline: func(alert func()) (func(*event.Event), func() int) {
		// What an engineer would write by hand: per card, a queue of
		// (time, amount) of declines in the last 10 minutes, a running sum,
		// and the emit-first flag.
		type entry struct {
			t      int64
			amount float64
		}
		type card struct {
			q     []entry
			sum   float64
			fired bool
		}
		const window = 10 * 60 * 1000
		cards := map[string]*card{}
		process := func(ev *event.Event) {
			f := ev.Fields
			if f["type"] != "auth" || f["status"] != "declined" {
				return
			}
			key, _ := f["card_id"].(string)
			c := cards[key]
			if c == nil {
				c = &card{}
				cards[key] = c
			}
			for len(c.q) > 0 && c.q[0].t <= ev.Time-window {
				c.sum -= c.q[0].amount
				c.q = c.q[1:]
			}
			amount, _ := f["amount"].(float64)
			c.q = append(c.q, entry{ev.Time, amount})
			c.sum += amount
			ok := len(c.q) >= 5 && c.sum > 100
			if ok && !c.fired {
				alert()
			}
			c.fired = ok
		}
		return process, func() int { return len(cards) }
	},
}

// sequence3: login, then a new payee, then a large transfer, per account,
// within 10 minutes — a 3-stage sequence with relaxed contiguity.
var sequence3 = Scenario{
	Name: "sequence3",
	Rules: `rules:
  - name: login-payee-transfer
    key: account
    pattern:
      - begin: login
        where: type == "login"
      - followed_by: payee
        where: type == "new_payee"
      - followed_by: transfer
        where: type == "transfer" && amount > 900
    within: 10m
`,
	Event: func(r *rand.Rand, i, keys int, t int64) *event.Event {
		kinds := [...]string{"login", "new_payee", "transfer", "view", "view"}
		return &event.Event{ID: strconv.Itoa(i), Time: t, Fields: map[string]any{
			"id": strconv.Itoa(i), "ts": float64(t), "type": kinds[r.Intn(len(kinds))],
			"account": keyName(r.Intn(keys), keys), "amount": float64(r.Intn(1000)),
		}}
	},
	Baseline: func(alert func()) (func(*event.Event), func() int) {
		// By hand, FlinkCEP's semantics for this pattern: every login
		// starts a partial match; followed_by takes the first matching
		// event, so partial matches move together and complete in start
		// order; skip_past_last_event then drops every other one.
		type partial struct {
			start int64
			stage int // 1: login seen, 2: payee seen
		}
		const within = 10 * 60 * 1000
		accounts := map[string][]partial{}
		process := func(ev *event.Event) {
			f := ev.Fields
			key, _ := f["account"].(string)
			pms := accounts[key]
			live := pms[:0]
			for _, pm := range pms {
				if ev.Time-pm.start < within {
					live = append(live, pm)
				}
			}
			pms = live
			typ, _ := f["type"].(string)
			switch typ {
			case "login":
				pms = append(pms, partial{start: ev.Time, stage: 1})
			case "new_payee":
				for i := range pms {
					pms[i].stage = 2
				}
			case "transfer":
				if f["amount"].(float64) > 900 {
					for _, pm := range pms {
						if pm.stage == 2 {
							alert()
							pms = pms[:0]
							break
						}
					}
				}
			}
			if len(pms) == 0 {
				delete(accounts, key)
			} else {
				accounts[key] = pms
			}
		}
		return process, func() int { return len(accounts) }
	},
}
