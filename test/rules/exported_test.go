// Package rules checks config/prometheus's alerts and docs/grafana's dashboard against the metrics
// kubepay's manager exports: every query must parse and name only series, labels and label values
// the manager serves, or an alert would never fire and a panel stay empty without anyone noticing.
package rules

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/metrics"
	"github.com/kubepay/kubepay/webhook"
)

// series is one name a query can select: a metric, or one of a histogram's _bucket, _sum and
// _count.
type series struct {
	family string
	labels []string
}

// descPattern reads a descriptor's name and variable labels from its String(), the only place
// client_golang shows them. TestExportedSeries fails if the format ever stops matching.
var descPattern = regexp.MustCompile(`^Desc\{fqName: "([^"]+)".*variableLabels: \{([^}]*)\}\}$`)

// exported returns every series name the manager serves for kubepay: the event metrics package
// metrics registers at init (Collectors) and the state gauges the manager registers (State), keyed
// by the name a query uses.
func exported(t *testing.T) map[string]series {
	t.Helper()
	out := map[string]series{}
	collectors := append(metrics.Collectors(), metrics.NewState(nil, nil))
	for _, c := range collectors {
		kind := kindOf(c)
		if kind == "" {
			t.Fatalf("metrics collector %T is of a kind this test does not know: teach kindOf its series names", c)
		}
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := descPattern.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the name of descriptor %s of %T", d, c)
			}
			var lbls []string
			for l := range strings.SplitSeq(m[2], ",") {
				if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
					lbls = append(lbls, l)
				}
			}
			name := m[1]
			if kind == "histogram" {
				out[name+"_bucket"] = series{name, append(slices.Clone(lbls), "le")}
				out[name+"_sum"] = series{name, lbls}
				out[name+"_count"] = series{name, lbls}
				continue
			}
			out[name] = series{name, lbls}
		}
	}
	return out
}

func kindOf(c prometheus.Collector) string {
	// Concrete types only: a Gauge also satisfies the Counter interface.
	switch c.(type) {
	case *prometheus.CounterVec:
		return "counter"
	case *prometheus.GaugeVec, *metrics.State:
		return "gauge"
	case *prometheus.HistogramVec:
		return "histogram"
	}
	return ""
}

// knownValues are the values a label can take, where the code defines them: a matcher on another
// value selects nothing, so an alert on result="rejected_signatures" would never fire.
func knownValues() map[string]map[string][]string {
	orderPhases := []string{
		string(v1.PhasePending), string(v1.PhaseAwaitingPayment), string(v1.PhasePaid), string(v1.PhaseFailed),
		string(v1.PhaseExpired), string(v1.PhaseCancelled), string(v1.PhasePartiallyRefunded), string(v1.PhaseRefunded),
	}
	refundPhases := []string{string(v1.RefundPending), string(v1.RefundProcessing), string(v1.RefundSucceeded), string(v1.RefundFailed)}
	return map[string]map[string][]string{
		"kubepay_notifications_total": {"result": {
			webhook.ResultApplied, webhook.ResultLatePayment, webhook.ResultDuplicate, webhook.ResultIgnored,
			webhook.ResultRejectedSignature, webhook.ResultRejectedMismatch, webhook.ResultUnknownOrder,
			webhook.ResultError, webhook.ResultRateLimited,
		}},
		// internal/resolver's result(), unexported there; its Help string lists the same.
		"kubepay_provider_requests_total":  {"result": {"ok", "retryable", "terminal", "not_found", "already_paid"}},
		"kubepay_order_transitions_total":  {"from": append(slices.Clone(orderPhases), ""), "to": orderPhases},
		"kubepay_orders":                   {"phase": orderPhases},
		"kubepay_late_payments_total":      {"phase": orderPhases},
		"kubepay_refund_transitions_total": {"from": append(slices.Clone(refundPhases), ""), "to": refundPhases},
		"kubepay_refunds":                  {"phase": refundPhases},
		// The reasons the finalizer's blocked() is given: reasonFor's three and PayableUntilExpiry.
		"kubepay_orders_close_blocked": {"reason": {v1.ReasonPayableUntilExpiry, v1.ReasonCredentialsInvalid, v1.ReasonProviderNotFound, v1.ReasonProviderNotReady}},
		"kubepay_provider_ready": {"reason": {
			"", v1.ReasonAuthenticated, v1.ReasonCredentialsInvalid, v1.ReasonProviderUnreachable, v1.ReasonInUse, v1.ReasonProviderNotReady,
		}},
	}
}

// literalAlternatives matches a regular expression that is only literal words joined by |, the
// only kind whose values this test can check one by one.
var literalAlternatives = regexp.MustCompile(`^[A-Za-z0-9_]+(\|[A-Za-z0-9_]+)*$`)

// checkExpr parses expr and returns what is wrong with the series it selects: names the manager
// does not export, labels they do not have, values their labels never take. It also returns the
// names it selected, so callers can tell a query that selects nothing of kubepay's.
func checkExpr(expr string, exp map[string]series, values map[string]map[string][]string) ([]string, []string) {
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, []string{fmt.Sprintf("does not parse: %v", err)}
	}
	var names, problems []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			problems = append(problems, fmt.Sprintf("selector %s names no metric", vs))
			return nil
		}
		names = append(names, name)
		s, ok := exp[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is not a metric the manager exports", name))
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel {
				continue
			}
			if !slices.Contains(s.labels, m.Name) {
				problems = append(problems, fmt.Sprintf("%s has no label %q (it has %v)", name, m.Name, s.labels))
				continue
			}
			allowed, known := values[s.family][m.Name]
			if !known {
				continue
			}
			var vals []string
			switch {
			case m.Type == labels.MatchEqual || m.Type == labels.MatchNotEqual:
				vals = []string{m.Value}
			case literalAlternatives.MatchString(m.Value):
				vals = strings.Split(m.Value, "|")
			}
			for _, v := range vals {
				if !slices.Contains(allowed, v) {
					problems = append(problems, fmt.Sprintf("%s{%s} never has the value %q (it takes %q)", name, m.Name, v, allowed))
				}
			}
		}
		return nil
	})
	return names, problems
}

// TestExportedSeries checks the inventory the other tests judge queries by: it must hold every
// kubepay metric, with its labels, and expand histograms into the series Prometheus stores. An
// inventory read wrong would let the other tests pass on nothing.
func TestExportedSeries(t *testing.T) {
	exp := exported(t)
	cases := []struct {
		name   string
		labels []string
		reason string
	}{
		{"kubepay_notifications_total", []string{"provider", "result"}, "an event counter registered at init"},
		{"kubepay_notification_duration_seconds_bucket", []string{"provider", "le"}, "a histogram is queried through its buckets, with le"},
		{"kubepay_provider_request_duration_seconds_count", []string{"provider", "op"}, "a histogram's _count has its labels without le"},
		{"kubepay_orders", []string{"namespace", "provider", "phase"}, "a state gauge, registered by the manager"},
		{"kubepay_orders_pending_oldest_age_seconds", []string{"namespace", "provider"}, "the stuck-Pending alert's gauge"},
		{"kubepay_provider_ready", []string{"namespace", "provider", "type", "reason"}, "the provider alert's gauge"},
		{"kubepay_refunds", []string{"phase"}, "refunds carry only their phase"},
	}
	for _, tc := range cases {
		s, ok := exp[tc.name]
		if !ok {
			t.Errorf("%s: %s is missing from the exported series %v", tc.reason, tc.name, slices.Sorted(maps.Keys(exp)))
			continue
		}
		if !sameSet(s.labels, tc.labels) {
			t.Errorf("%s: %s has labels %v, want %v", tc.reason, tc.name, s.labels, tc.labels)
		}
	}
	for _, absent := range []string{"kubepay_notification_duration_seconds", "kubepay_orders_bucket"} {
		if _, ok := exp[absent]; ok {
			t.Errorf("%s is in the exported series, but a histogram is only stored as _bucket, _sum and _count, and a gauge has no buckets", absent)
		}
	}
}

// TestCheckExpr shows that checkExpr finds each kind of mistake, so the rules and dashboard tests
// passing means something.
func TestCheckExpr(t *testing.T) {
	exp, values := exported(t), knownValues()
	cases := []struct {
		expr, want, reason string
	}{
		{`sum(rate(kubepay_notifications_total{result="rejected_signature"}[5m]))`, "", "a correct query has no problem"},
		{`sum(rate(kubepay_notification_total[5m]))`, "kubepay_notification_total is not a metric", "a misspelt metric name"},
		{`kubepay_refunds{namespace="shop"}`, `kubepay_refunds has no label "namespace"`, "a label the metric does not have"},
		{`kubepay_notifications_total{result="rejected_signatures"}`, `never has the value "rejected_signatures"`, "a misspelt label value"},
		{`kubepay_orders{phase=~"Pending|Stuck"}`, `never has the value "Stuck"`, "a misspelt alternative in a regular expression"},
		{`histogram_quantile(0.9, rate(kubepay_notification_duration_seconds[5m]))`, "kubepay_notification_duration_seconds is not a metric", "a histogram queried without _bucket"},
		{`sum(rate(kubepay_notifications_total[5m]`, "does not parse", "a syntax error"},
	}
	for _, tc := range cases {
		_, problems := checkExpr(tc.expr, exp, values)
		got := strings.Join(problems, "; ")
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s: checkExpr(%s) = %q, want %q", tc.reason, tc.expr, got, tc.want)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}
