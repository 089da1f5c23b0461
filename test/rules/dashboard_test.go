package rules

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kubepay/kubepay/internal/testenv"
)

var dashboardFile = filepath.Join(testenv.RepoRoot(), "docs", "grafana", "kubepay.json")

// grafanaRanges are Grafana's built-in range variables, which Grafana replaces before Prometheus
// sees the query; any duration stands in for them when parsing.
var grafanaRanges = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// labelValues is Grafana's variable query label_values(selector, label).
var labelValues = regexp.MustCompile(`^\s*label_values\((.+),\s*(\w+)\)\s*$`)

type panel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// query is one PromQL expression of the dashboard and where it is.
type query struct{ where, expr string }

func dashboardQueries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not JSON Grafana can import: %v", dashboardFile, err)
	}
	var out []query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q of %s has no query", p.Title, dashboardFile)
			}
			for i, tg := range p.Targets {
				out = append(out, query{fmt.Sprintf("panel %q query %d", p.Title, i), tg.Expr})
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		// Grafana stores a variable's query as a string or as {"query": "..."}.
		var s string
		if err := json.Unmarshal(v.Query, &s); err != nil {
			var o struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &o); err != nil {
				t.Fatalf("variable %s of %s: unreadable query %s", v.Name, dashboardFile, v.Query)
			}
			s = o.Query
		}
		out = append(out, query{"variable " + v.Name, s})
	}
	return out
}

// TestDashboardQueriesNameExportedMetrics checks every query of docs/grafana/kubepay.json, panels
// and variables, parses and selects only series the manager exports, by labels they have and
// values they take, and that the dashboard shows what it is for: ingest, latency, phases, errors.
func TestDashboardQueriesNameExportedMetrics(t *testing.T) {
	exp, values := exported(t), knownValues()
	queries := dashboardQueries(t)
	seen := map[string]bool{}
	for _, q := range queries {
		expr := grafanaRanges.Replace(q.expr)
		if m := labelValues.FindStringSubmatch(expr); m != nil {
			// label_values(selector, label): the selector is PromQL, and the label must be on it.
			names, problems := checkExpr(m[1], exp, values)
			for _, n := range names {
				if s, ok := exp[n]; ok && !slices.Contains(s.labels, m[2]) {
					problems = append(problems, fmt.Sprintf("%s has no label %q for label_values", n, m[2]))
				}
			}
			for _, p := range problems {
				t.Errorf("%s of %s: %s\nquery: %s", q.where, dashboardFile, p, q.expr)
			}
			continue
		}
		names, problems := checkExpr(expr, exp, values)
		for _, p := range problems {
			t.Errorf("%s of %s: %s\nquery: %s", q.where, dashboardFile, p, q.expr)
		}
		if len(names) == 0 && len(problems) == 0 {
			t.Errorf("%s of %s selects no kubepay metric: %s", q.where, dashboardFile, q.expr)
		}
		for _, n := range names {
			seen[n] = true
		}
	}
	// What the platform team asked the dashboard to show, by the series that show it.
	for _, need := range []struct{ series, what string }{
		{"kubepay_notifications_total", "notification ingest rate and errors"},
		{"kubepay_notification_duration_seconds_bucket", "notification latency"},
		{"kubepay_provider_request_duration_seconds_bucket", "provider call latency"},
		{"kubepay_orders", "orders by phase"},
		{"kubepay_refunds", "refunds by phase"},
		{"kubepay_provider_requests_total", "provider call errors"},
	} {
		if !seen[need.series] {
			t.Errorf("%s has no panel on %s (%s)", dashboardFile, need.what, need.series)
		}
	}
}
