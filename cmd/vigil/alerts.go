package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
)

func init() { addCommand(newAlertsCmd) }

type alertsFlags struct {
	server, rule, key, severity, since, shadow string
	limit                                      int
	json, ids                                  bool
}

func newAlertsCmd() *cobra.Command {
	var f alertsFlags
	cmd := &cobra.Command{
		Use:   "alerts [--rule R] [--key K] [--since D]",
		Short: "query alert history from a running service",
		Long: `alerts lists the alerts a running vigil serve has stored, newest first,
with their full ids (which 'vigil alerts show ID' and GET /v1/alerts/{id}
accept) and their times in UTC.`,
		Example: `  vigil alerts --since 24h --rule declined-velocity
  vigil alerts --key c1 --json
  vigil alerts show $(vigil alerts -q --limit 1)`,
		Args: noArgs("filter with --rule, --key, --since; show one alert with vigil alerts show ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.limit <= 0 {
				return usageErr("--limit must be at least 1, got %d", f.limit)
			}
			if f.shadow != "" && f.shadow != "true" && f.shadow != "false" {
				return usageErr("--shadow must be true or false, got %q", f.shadow)
			}
			return listAlerts(cmd.Context(), f, cmd.OutOrStdout())
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.server, "server", envOr("VIGIL_URL", "http://localhost:8080"), "vigil service URL (env VIGIL_URL; the API token comes from VIGIL_TOKEN)")
	pf.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	fs := cmd.Flags()
	fs.StringVar(&f.rule, "rule", "", "only this rule")
	fs.StringVar(&f.key, "key", "", "only this key")
	fs.StringVar(&f.severity, "severity", "", "only this severity")
	fs.StringVar(&f.since, "since", "", "only alerts newer than this: a duration (24h) or a time (RFC 3339, Unix ms)")
	fs.StringVar(&f.shadow, "shadow", "", "true: only shadow alerts; false: no shadow alerts")
	fs.IntVar(&f.limit, "limit", 50, "at most this many alerts (newest first)")
	fs.BoolVarP(&f.ids, "quiet", "q", false, "print only the alert ids, one a line (for vigil alerts show)")
	cmd.AddCommand(&cobra.Command{
		Use:     "show ID",
		Short:   "show one alert with its matched events",
		Example: "  vigil alerts show 3f2a9c0e5b7d41a8c6e2f0b9d3a7c5e1",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("name one alert id (the ID column of vigil alerts)")
			}
			return showAlert(cmd.Context(), f, args[0], cmd.OutOrStdout())
		},
	})
	return cmd
}

func listAlerts(ctx context.Context, f alertsFlags, stdout io.Writer) error {
	q := url.Values{}
	for name, v := range map[string]string{"rule": f.rule, "key": f.key, "severity": f.severity, "from": f.since, "shadow": f.shadow} {
		if v != "" {
			q.Set(name, v)
		}
	}
	var alerts []cep.Alert
	client := &http.Client{Timeout: 30 * time.Second}
	for len(alerts) < f.limit {
		q.Set("limit", strconv.Itoa(min(f.limit-len(alerts), 1000)))
		var page alertPage
		if err := getJSON(ctx, client, strings.TrimRight(f.server, "/")+"/v1/alerts?"+q.Encode(), &page); err != nil {
			return failErr("%v", err)
		}
		alerts = append(alerts, page.Alerts...)
		if page.NextCursor == "" || len(page.Alerts) == 0 {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	if f.ids {
		for _, a := range alerts {
			fmt.Fprintln(stdout, a.ID)
		}
		return nil
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		for _, a := range alerts {
			if err := enc.Encode(a); err != nil {
				return failErr("%v", err)
			}
		}
		return nil
	}
	printAlertTable(stdout, alerts)
	return nil
}

func showAlert(ctx context.Context, f alertsFlags, id string, stdout io.Writer) error {
	client := &http.Client{Timeout: 30 * time.Second}
	var a cep.Alert
	if err := getJSON(ctx, client, strings.TrimRight(f.server, "/")+"/v1/alerts/"+url.PathEscape(id), &a); err != nil {
		return failErr("%v", err)
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(a); err != nil {
			return failErr("%v", err)
		}
		return nil
	}
	printAlert(stdout, a)
	return nil
}

type alertPage struct {
	Alerts     []cep.Alert `json:"alerts"`
	NextCursor string      `json:"next_cursor"`
}

func getJSON(ctx context.Context, client *http.Client, u string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if tok := os.Getenv("VIGIL_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("is vigil serve running? %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s: %s", e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	return json.Unmarshal(body, into)
}

// alertTime renders an alert time as vigil writes times everywhere: RFC
// 3339 in UTC, with milliseconds and the zone.
func alertTime(t time.Time) string { return event.FormatTime(t.UnixMilli()) }

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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", alertTime(a.Time), rule, a.Severity, a.Key, summary, a.ID)
	}
	tw.Flush()
}

// printAlert writes one alert for a reader: its fields, then its events.
func printAlert(w io.Writer, a cep.Alert) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("id", a.ID)
	row("rule", fmt.Sprintf("%s (version %d)", a.Rule, a.RuleVersion))
	row("severity", a.Severity)
	row("key", a.Key)
	row("time", alertTime(a.Time))
	row("detected at", alertTime(a.DetectedAt))
	if a.Summary != "" {
		row("summary", a.Summary)
	}
	if a.Shadow {
		row("shadow", "true")
	}
	if a.Suppressed {
		row("suppressed", "true")
	}
	for _, m := range []struct {
		name string
		vals map[string]any
	}{{"field", a.Fields}, {"value", a.Values}} {
		for _, k := range sortedKeys(m.vals) {
			v, _ := json.Marshal(m.vals[k])
			row(m.name+" "+k, string(v))
		}
	}
	for _, k := range sortedKeys(a.Labels) {
		row("label "+k, a.Labels[k])
	}
	tw.Flush()
	if len(a.Matched) > 0 {
		fmt.Fprintln(w, "matched:")
		for _, stage := range sortedKeys(a.Matched) {
			for _, ev := range a.Matched[stage] {
				data, _ := json.Marshal(ev)
				fmt.Fprintf(w, "  %s  %s\n", stage, data)
			}
		}
	} else if len(a.EventIDs) > 0 {
		fmt.Fprintf(w, "events: %s\n", strings.Join(a.EventIDs, " "))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
