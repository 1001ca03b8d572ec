package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigilhq/vigil/cep"
)

func runAlerts(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("alerts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", envOr("VIGIL_URL", "http://localhost:8080"), "vigil service URL (env VIGIL_URL; the API token comes from VIGIL_TOKEN)")
	rule := fs.String("rule", "", "only this rule")
	key := fs.String("key", "", "only this key")
	severity := fs.String("severity", "", "only this severity")
	since := fs.String("since", "", "only alerts newer than this: a duration (24h) or a time (RFC 3339, Unix ms)")
	shadow := fs.String("shadow", "", "true: only shadow alerts; false: no shadow alerts")
	limit := fs.Int("limit", 50, "at most this many alerts (newest first)")
	asJSON := fs.Bool("json", false, "print NDJSON instead of a table")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vigil alerts [--rule R] [--key K] [--since D] [--severity S] [--limit N] [--json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	q := url.Values{}
	for name, v := range map[string]string{"rule": *rule, "key": *key, "severity": *severity, "from": *since, "shadow": *shadow} {
		if v != "" {
			q.Set(name, v)
		}
	}
	var alerts []cep.Alert
	client := &http.Client{Timeout: 30 * time.Second}
	for len(alerts) < *limit {
		q.Set("limit", strconv.Itoa(min(*limit-len(alerts), 1000)))
		page, err := fetchAlerts(ctx, client, strings.TrimRight(*server, "/")+"/v1/alerts?"+q.Encode())
		if err != nil {
			fmt.Fprintf(stderr, "vigil alerts: %v\n", err)
			return 1
		}
		alerts = append(alerts, page.Alerts...)
		if page.NextCursor == "" || len(page.Alerts) == 0 {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, a := range alerts {
			if err := enc.Encode(a); err != nil {
				return 1
			}
		}
		return 0
	}
	printAlertTable(stdout, alerts)
	return 0
}

type alertPage struct {
	Alerts     []cep.Alert `json:"alerts"`
	NextCursor string      `json:"next_cursor"`
}

func fetchAlerts(ctx context.Context, client *http.Client, u string) (alertPage, error) {
	var page alertPage
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return page, err
	}
	if tok := os.Getenv("VIGIL_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := client.Do(req)
	if err != nil {
		return page, fmt.Errorf("is vigil serve running? %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return page, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return page, fmt.Errorf("%s: %s", e.Error.Code, e.Error.Message)
		}
		return page, fmt.Errorf("%s: %s", resp.Status, body)
	}
	return page, json.Unmarshal(body, &page)
}

func printAlertTable(w io.Writer, alerts []cep.Alert) {
	if len(alerts) == 0 {
		fmt.Fprintln(w, "no alerts")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tRULE\tSEVERITY\tKEY\tSUMMARY\tID")
	for _, a := range alerts {
		rule := a.Rule
		if a.Shadow {
			rule += " (shadow)"
		}
		if a.Suppressed {
			rule += " (suppressed)"
		}
		summary := a.Summary
		if len([]rune(summary)) > 60 {
			summary = string([]rune(summary)[:59]) + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Time.UTC().Format("2006-01-02 15:04:05.000"), rule, a.Severity, a.Key, summary, a.ID[:min(12, len(a.ID))])
	}
	tw.Flush()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
