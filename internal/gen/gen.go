// Package gen writes synthetic payment and account streams with injected,
// labelled fraud, for trying rules (`vigil gen`). The same options and seed
// give the same events, byte for byte.
//
// Normal traffic: cards (each with an account, a home country and a
// device) whose activity is skewed (Zipf: a few cards are very busy);
// merchants with a country and a category; auths (mostly approved),
// captures of approved auths a few minutes later, refunds, logins,
// password resets and payouts; amounts log-normal (median about 35, never
// below 2.00). Fraud is injected as incidents, every event of which has
// is_fraud true and fraud_type set:
//
//	card_testing          3–6 declined auths under 2.00, then an approved auth over 500
//	declined_velocity     6–8 declined auths of 20–150 within 5 minutes
//	account_takeover      a login from a new device abroad, a password reset, a large payout, within 30 minutes
//	impossible_travel     approved auths on one card in two distant countries 5–20 minutes apart
//	structuring           5–8 payouts of 9000–9990 within 6 hours
//	auth_without_capture  an approved auth of 300–3000 never captured
//
// Events come out in event-time order.
package gen

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// FraudTypes are the injected patterns.
var FraudTypes = []string{"card_testing", "declined_velocity", "account_takeover", "impossible_travel", "structuring", "auth_without_capture"}

// Options shape a stream.
type Options struct {
	Seed  uint64
	Start time.Time // event time of the stream's start; default 2026-11-01T00:00:00Z
	Cards int       // default 10000
	// EventsPerSecond is the mean rate of normal traffic in event time
	// (default 100).
	EventsPerSecond float64
	// FraudRate is the chance that a normal event is followed by a fraud
	// incident (default 0.002).
	FraudRate float64
	// Types restricts the injected fraud to these types (default all).
	Types []string
}

// Event is one generated event. Field order is fixed, so the bytes are.
type Event struct {
	ID        string    `json:"id"`
	TS        string    `json:"ts"`
	Type      string    `json:"type"`
	CardID    string    `json:"card_id,omitempty"`
	AccountID string    `json:"account_id"`
	Merchant  *Merchant `json:"merchant,omitempty"`
	Amount    float64   `json:"amount,omitempty"`
	Currency  string    `json:"currency,omitempty"`
	Status    string    `json:"status,omitempty"`
	Country   string    `json:"country"`
	DeviceID  string    `json:"device_id"`
	AuthID    string    `json:"auth_id,omitempty"` // a capture's or refund's auth
	IsFraud   bool      `json:"is_fraud"`
	FraudType string    `json:"fraud_type,omitempty"`

	ms  int64
	seq uint64
}

// Merchant is where a payment happens.
type Merchant struct {
	ID      string `json:"id"`
	Country string `json:"country"`
	MCC     string `json:"mcc"`
}

// Stats count what was generated.
type Stats struct {
	Events      int            `json:"events"`
	FraudEvents map[string]int `json:"fraud_events"` // by type
	Incidents   map[string]int `json:"incidents"`    // by type
}

var (
	countries = []string{"FR", "DE", "GB", "ES", "IT", "NL", "US", "PL", "SE", "PT"}
	far       = []string{"BR", "JP", "AU", "ZA", "NG", "SG", "MX", "IN"}
	mccs      = []string{"5411", "5812", "5999", "4111", "5732", "7995", "5311", "4814"}
)

type card struct {
	id, account, country, device string
}

// Generator produces events one at a time.
type Generator struct {
	opts      Options
	rng       *rand.Rand
	zipf      *rand.Zipf
	cards     []card
	merchants []Merchant
	now       int64 // event time of the next normal event, ms
	queue     eventHeap
	seq       uint64
	ids       uint64
	stats     Stats
	types     []string
}

// New returns a generator.
func New(opts Options) (*Generator, error) {
	if opts.Start.IsZero() {
		opts.Start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	if opts.Cards <= 0 {
		opts.Cards = 10000
	}
	if opts.EventsPerSecond <= 0 {
		opts.EventsPerSecond = 100
	}
	if opts.FraudRate < 0 || opts.FraudRate > 1 {
		return nil, fmt.Errorf("gen: fraud rate %v: want 0 to 1", opts.FraudRate)
	}
	if opts.FraudRate == 0 {
		opts.FraudRate = 0.002
	}
	types := FraudTypes
	if len(opts.Types) > 0 {
		for _, t := range opts.Types {
			if !slices.Contains(FraudTypes, t) {
				return nil, fmt.Errorf("gen: unknown fraud type %q (known: %v)", t, FraudTypes)
			}
		}
		types = opts.Types
	}
	g := &Generator{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)), now: opts.Start.UnixMilli(),
		stats: Stats{FraudEvents: map[string]int{}, Incidents: map[string]int{}}, types: types}
	g.zipf = rand.NewZipf(g.rng, 1.2, 10, uint64(opts.Cards-1))
	for i := range opts.Cards {
		g.cards = append(g.cards, card{id: fmt.Sprintf("card-%06d", i), account: fmt.Sprintf("acct-%06d", i/2),
			country: countries[g.rng.IntN(len(countries))], device: fmt.Sprintf("dev-%08x", g.rng.Uint32())})
	}
	for i := range 500 {
		g.merchants = append(g.merchants, Merchant{ID: fmt.Sprintf("m-%04d", i), Country: countries[g.rng.IntN(len(countries))], MCC: mccs[g.rng.IntN(len(mccs))]})
	}
	return g, nil
}

// Stats returns the counts so far.
func (g *Generator) Stats() Stats { return g.stats }

// Next returns the next event in event-time order.
func (g *Generator) Next() *Event {
	// Normal traffic is generated up to the earliest queued event, so the
	// queue always holds what comes next.
	for len(g.queue) == 0 || g.queue[0].ms >= g.now {
		g.normal()
	}
	e := heap.Pop(&g.queue).(*Event)
	e.TS = time.UnixMilli(e.ms).UTC().Format("2006-01-02T15:04:05.000Z")
	g.stats.Events++
	if e.IsFraud {
		g.stats.FraudEvents[e.FraudType]++
	}
	return e
}

// MarshalLine is the event as one NDJSON line.
func (e *Event) MarshalLine() []byte {
	b, _ := json.Marshal(e)
	return append(b, '\n')
}

// TimeMs is the event time in Unix milliseconds.
func (e *Event) TimeMs() int64 { return e.ms }

func (g *Generator) push(e *Event) {
	g.seq++
	e.seq = g.seq
	g.ids++
	if e.ID == "" {
		e.ID = fmt.Sprintf("ev-%010d", g.ids)
	}
	heap.Push(&g.queue, e)
}

func (g *Generator) card() card { return g.cards[g.zipf.Uint64()] }

func (g *Generator) merchant() *Merchant { m := g.merchants[g.rng.IntN(len(g.merchants))]; return &m }

func (g *Generator) amount() float64 {
	return max(2, cents(math.Exp(g.rng.NormFloat64()*1.0+3.55)))
}

func cents(v float64) float64 { return math.Round(v*100) / 100 }

func (g *Generator) between(lo, hi float64) float64 { return cents(lo + g.rng.Float64()*(hi-lo)) }

// normal generates one normal event at g.now (and the capture of an
// approved auth), maybe starts an incident, and moves g.now on.
func (g *Generator) normal() {
	t := g.now
	g.now += max(1, int64(g.rng.ExpFloat64()*1000/g.opts.EventsPerSecond))
	c := g.card()
	base := Event{CardID: c.id, AccountID: c.account, Country: c.country, DeviceID: c.device, ms: t}
	switch p := g.rng.Float64(); {
	case p < 0.55:
		e := base
		e.Type, e.Merchant, e.Amount, e.Currency = "auth", g.merchant(), g.amount(), "EUR"
		e.Status = "approved"
		if g.rng.Float64() < 0.05 {
			e.Status = "declined"
		}
		g.push(&e)
		if e.Status == "approved" {
			capt := base
			capt.Type, capt.Merchant, capt.Amount, capt.Currency, capt.Status, capt.AuthID = "capture", e.Merchant, e.Amount, "EUR", "approved", e.ID
			capt.ms = t + 60_000 + int64(g.rng.IntN(600_000))
			g.push(&capt)
		}
	case p < 0.60:
		e := base
		e.Type, e.Merchant, e.Amount, e.Currency, e.Status = "refund", g.merchant(), g.amount(), "EUR", "approved"
		g.push(&e)
	case p < 0.90:
		e := base
		e.Type, e.Status = "login", "approved"
		g.push(&e)
	case p < 0.91:
		e := base
		e.Type, e.Status = "password_reset", "approved"
		g.push(&e)
	default:
		e := base
		e.Type, e.Amount, e.Currency, e.Status = "payout", g.between(20, 2000), "EUR", "approved"
		e.CardID = ""
		g.push(&e)
	}
	if g.rng.Float64() < g.opts.FraudRate {
		g.incident(t + 1)
	}
}

// incident injects one fraud incident starting at t.
func (g *Generator) incident(t int64) {
	typ := g.types[g.rng.IntN(len(g.types))]
	g.stats.Incidents[typ]++
	c := g.cards[g.rng.IntN(len(g.cards))] // fraud hits any card, not only busy ones
	ev := func(typeName string, ms int64) *Event {
		return &Event{Type: typeName, CardID: c.id, AccountID: c.account, Country: c.country, DeviceID: c.device,
			Currency: "EUR", Status: "approved", IsFraud: true, FraudType: typ, ms: ms}
	}
	switch typ {
	case "card_testing":
		m := g.merchant()
		n := 3 + g.rng.IntN(4)
		for range n {
			e := ev("auth", t)
			e.Merchant, e.Amount, e.Status = m, g.between(0.5, 1.99), "declined"
			g.push(e)
			t += 10_000 + int64(g.rng.IntN(50_000))
		}
		e := ev("auth", t)
		e.Merchant, e.Amount = g.merchant(), g.between(600, 2000)
		g.push(e)
	case "declined_velocity":
		n := 6 + g.rng.IntN(3)
		for range n {
			e := ev("auth", t)
			e.Merchant, e.Amount, e.Status = g.merchant(), g.between(20, 150), "declined"
			g.push(e)
			t += 5_000 + int64(g.rng.IntN(30_000))
		}
	case "account_takeover":
		country, device := far[g.rng.IntN(len(far))], fmt.Sprintf("dev-%08x", g.rng.Uint32())
		for _, typeName := range []string{"login", "password_reset", "payout"} {
			e := ev(typeName, t)
			e.Country, e.DeviceID = country, device
			if typeName == "payout" {
				e.Amount, e.CardID = g.between(1000, 5000), ""
			} else {
				e.Currency = ""
			}
			g.push(e)
			t += 60_000 + int64(g.rng.IntN(540_000))
		}
	case "impossible_travel":
		e := ev("auth", t)
		e.Merchant, e.Amount = g.merchant(), g.amount()
		g.push(e)
		e2 := ev("auth", t+300_000+int64(g.rng.IntN(900_000)))
		e2.Merchant, e2.Amount, e2.Country = g.merchant(), g.amount(), far[g.rng.IntN(len(far))]
		g.push(e2)
	case "structuring":
		n := 5 + g.rng.IntN(4)
		for range n {
			e := ev("payout", t)
			e.Amount, e.CardID = g.between(9000, 9990), ""
			g.push(e)
			t += 60_000 + int64(g.rng.IntN(2_400_000))
		}
	case "auth_without_capture":
		e := ev("auth", t)
		e.Merchant, e.Amount = g.merchant(), g.between(300, 3000)
		g.push(e)
	}
}

// eventHeap orders events by time, then creation.
type eventHeap []*Event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].ms != h[j].ms {
		return h[i].ms < h[j].ms
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(*Event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
