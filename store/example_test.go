package store_test

import (
	"context"
	"fmt"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/store"
)

// Alerts go into the embedded store (here directly; in vigil serve, as a
// cep.Sink) and come back out page by page, newest first, as
// GET /v1/alerts serves them.
func Example() {
	dir, err := os.MkdirTemp("", "vigil-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	s, err := store.Open(filepath.Join(dir, "alerts.db"), store.Options{Retention: 30 * 24 * time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)

	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	alert := func(id, rule, key string, minute int) cep.Alert {
		return cep.Alert{ID: id, Rule: rule, Key: key, Severity: "high", Time: t0.Add(time.Duration(minute) * time.Minute)}
	}
	if err := s.Put(ctx,
		alert("a1", "card-testing", "card-1", 1),
		alert("a2", "velocity", "card-2", 2),
		alert("a3", "card-testing", "card-3", 3),
		alert("a4", "card-testing", "card-1", 4),
		alert("a1", "card-testing", "card-1", 1), // a duplicate: stored once
	); err != nil {
		log.Fatal(err)
	}

	// The HTTP API parses its query string; a Go program may fill in a
	// store.Query directly.
	q, err := store.ParseQuery(url.Values{"rule": {"card-testing"}, "limit": {"2"}})
	if err != nil {
		log.Fatal(err)
	}
	for page := 1; ; page++ {
		p, err := s.Query(ctx, q)
		if err != nil {
			log.Fatal(err)
		}
		for _, a := range p.Alerts {
			fmt.Println(page, a.ID, a.Key, a.Time.Format(time.TimeOnly))
		}
		if p.NextCursor == "" {
			break
		}
		q.Cursor = p.NextCursor
	}
	// Output:
	// 1 a4 card-1 10:04:00
	// 1 a3 card-3 10:03:00
	// 2 a1 card-1 10:01:00
}
