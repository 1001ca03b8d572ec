package telemetry

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var metricName = regexp.MustCompile(`\bvigil_[a-z_]+`)

// known reports whether name is a catalogued metric, or a histogram's
// series (_bucket, _sum, _count).
func known(name string) bool {
	for _, in := range Catalog {
		if name == in.Prom {
			return true
		}
		if in.Kind == Histogram {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				if name == in.Prom+s {
					return true
				}
			}
		}
	}
	return false
}

// TestExamplesUseCataloguedMetrics checks the Grafana dashboard and the
// Prometheus alerting rules: they parse, and every metric they query is
// one vigil exports.
func TestExamplesUseCataloguedMetrics(t *testing.T) {
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	data, err := os.ReadFile("../../examples/grafana/vigil.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("vigil.json: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	data, err = os.ReadFile("../../examples/prometheus/vigil-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatalf("vigil-alerts.yaml: %v", err)
	}
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
			alerts = append(alerts, r.Alert)
		}
	}
	if len(exprs) < 20 {
		t.Errorf("found %d queries; the dashboard and the rules hold more", len(exprs))
	}
	for _, e := range exprs {
		names := metricName.FindAllString(e, -1)
		if len(names) == 0 {
			t.Errorf("query %q uses no vigil metric", e)
		}
		for _, n := range names {
			if !known(n) {
				t.Errorf("query %q uses %s, which vigil does not export", e, n)
			}
		}
	}
	for _, want := range []string{"VigilFallsBehind", "VigilSinkFailing", "VigilReloadFailed", "VigilCheckpointsStale"} {
		if !strings.Contains(strings.Join(alerts, " "), want) {
			t.Errorf("alerting rules lack %s", want)
		}
	}
}
