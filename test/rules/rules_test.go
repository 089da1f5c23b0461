package rules

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/kubepay/kubepay/internal/testenv"
)

var (
	rulesFile      = filepath.Join(testenv.RepoRoot(), "config", "prometheus", "rules.yaml")
	prometheusRule = filepath.Join(testenv.RepoRoot(), "config", "prometheus", "prometheus_rule.yaml")
	alertsDoc      = filepath.Join(testenv.RepoRoot(), "docs", "alerts.md")
)

// parseRules parses a rules file's content with Prometheus's own loader, which also checks every
// expression and annotation template, as Prometheus does when it loads the file.
func parseRules(t *testing.T, what string, content []byte) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.Parse(content, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) > 0 {
		t.Fatalf("Prometheus would not load %s: %v", what, errs)
	}
	return groups
}

func loadRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	return parseRules(t, rulesFile, b)
}

// TestRulesNameExportedMetrics checks every expression of config/prometheus/rules.yaml selects
// only series the manager exports, by labels they have and values they take.
func TestRulesNameExportedMetrics(t *testing.T) {
	exp, values := exported(t), knownValues()
	var alerts []string
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			names, problems := checkExpr(r.Expr, exp, values)
			for _, p := range problems {
				t.Errorf("alert %s in group %s: %s\nexpr: %s", r.Alert, g.Name, p, r.Expr)
			}
			if len(names) == 0 && len(problems) == 0 {
				t.Errorf("alert %s in group %s selects no kubepay metric: %s", r.Alert, g.Name, r.Expr)
			}
		}
	}
	// The alerts the platform team asked for, and the one that says the others cannot fire.
	want := []string{
		"KubepayLatePaymentsNotRefunded", "KubepayNotificationSignatureRejections", "KubepayNotificationErrors",
		"KubepayOrdersStuckPending", "KubepayProviderNotReady", "KubepayOrdersCloseBlocked", "KubepayStateMetricsMissing",
	}
	if !sameSet(alerts, want) {
		t.Errorf("%s has alerts %v, want %v", rulesFile, alerts, want)
	}
}

// headingPattern finds docs/alerts.md's alert sections, "### KubepaySomething".
var headingPattern = regexp.MustCompile(`(?m)^###\s+(Kubepay\w+)\s*$`)

// TestAlertsAreActionable checks each alert tells whoever is paged enough to act: a severity,
// a for: duration so one bad scrape pages nobody, a summary, a description and a runbook section
// in docs/alerts.md that exists; and that docs/alerts.md describes no alert that is gone.
func TestAlertsAreActionable(t *testing.T) {
	doc, err := os.ReadFile(alertsDoc)
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, m := range headingPattern.FindAllStringSubmatch(string(doc), -1) {
		documented = append(documented, m[1])
	}
	var alerts []string
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			checks := []struct {
				ok   bool
				what string
			}{
				{r.For > 0, "a for: duration, so a single evaluation pages nobody"},
				{r.Labels["severity"] == "warning" || r.Labels["severity"] == "critical", "severity warning or critical, which routing matches on"},
				{strings.TrimSpace(r.Annotations["summary"]) != "", "a summary annotation"},
				{strings.TrimSpace(r.Annotations["description"]) != "", "a description annotation"},
				{r.Annotations["runbook"] == "docs/alerts.md#"+strings.ToLower(r.Alert), "a runbook annotation pointing at its section, docs/alerts.md#" + strings.ToLower(r.Alert)},
				{slices.Contains(documented, r.Alert), "a section \"### " + r.Alert + "\" in docs/alerts.md"},
			}
			for _, c := range checks {
				if !c.ok {
					t.Errorf("alert %s lacks %s", r.Alert, c.what)
				}
			}
		}
	}
	for _, d := range documented {
		if !slices.Contains(alerts, d) {
			t.Errorf("docs/alerts.md documents %s, which %s does not define", d, rulesFile)
		}
	}
}

// TestPrometheusRuleMatchesRulesFile checks the Prometheus Operator manifest carries exactly the
// groups of rules.yaml, so the two ways of installing the alerts install the same alerts.
func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	b, err := os.ReadFile(prometheusRule)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Spec       map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &obj); err != nil {
		t.Fatalf("reading %s: %v", prometheusRule, err)
	}
	if obj.APIVersion != "monitoring.coreos.com/v1" || obj.Kind != "PrometheusRule" {
		t.Fatalf("%s is a %s %s, want a monitoring.coreos.com/v1 PrometheusRule", prometheusRule, obj.APIVersion, obj.Kind)
	}
	spec, err := yaml.Marshal(obj.Spec)
	if err != nil {
		t.Fatal(err)
	}
	fromOperator, fromFile := parseRules(t, prometheusRule+" spec", spec), loadRules(t)
	if len(fromOperator.Groups) != len(fromFile.Groups) {
		t.Fatalf("%s has %d groups, %s %d: copy the groups over (indented under spec:)", prometheusRule, len(fromOperator.Groups), rulesFile, len(fromFile.Groups))
	}
	for i, og := range fromOperator.Groups {
		fg := fromFile.Groups[i]
		if og.Name != fg.Name || len(og.Rules) != len(fg.Rules) {
			t.Errorf("group %d: %s has %s with %d rules, %s has %s with %d", i, prometheusRule, og.Name, len(og.Rules), rulesFile, fg.Name, len(fg.Rules))
			continue
		}
		for j := range og.Rules {
			if !reflect.DeepEqual(og.Rules[j], fg.Rules[j]) {
				t.Errorf("group %s rule %d differs between the two files: copy rules.yaml's over (indented under spec:)\n%s: %+v\n%s: %+v", og.Name, j, prometheusRule, og.Rules[j], rulesFile, fg.Rules[j])
			}
		}
		og.Rules, fg.Rules = nil, nil
		if !reflect.DeepEqual(og, fg) {
			t.Errorf("group %s's settings differ: %s has %+v, %s %+v", og.Name, prometheusRule, og, rulesFile, fg)
		}
	}
}
