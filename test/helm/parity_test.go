package helm

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubepay/kubepay/internal/testenv"
)

// side says where an intentionally unmatched object lives.
type side string

const (
	chartOnly  side = "chart only"
	configOnly side = "config/default only"
)

// intentional lists every object the chart's defaults and config/default may disagree on, each
// with its reason. An entry allows the difference, it does not demand it: when the other side
// gains the object the test only logs that the entry can go.
var intentional = []struct {
	key    string
	side   side
	reason string
}{
	{"Namespace//kubepay-system", configOnly,
		"Helm does not own its release namespace: `helm install --create-namespace` (or the platform) makes it"},
	{"PodDisruptionBudget/kubepay-system/kubepay-controller-manager", chartOnly,
		"the chart keeps one callback server up through node drains when replicaCount > 1; config/default has no PodDisruptionBudget"},
	{"ClusterRole//kubepay-metrics-auth-role", chartOnly,
		"metrics.secure defaults to true: the manager needs tokenreviews and subjectaccessreviews; config/default gains it with the metrics work"},
	{"ClusterRoleBinding//kubepay-metrics-auth-rolebinding", chartOnly,
		"binds the metrics-auth role above to the manager; config/default gains it with the metrics work"},
	{"ClusterRole//kubepay-metrics-reader", chartOnly,
		"what a scraper is bound to for metrics.secure; config/default gains it with the metrics work"},
}

// TestChartRendersLikeConfigDefault renders the chart with its default values (release kubepay
// in kubepay-system) and config/default with kustomize, and checks that both give the same
// objects, by kind, namespace and name after config/default's namePrefix, but for the
// intentional differences above. Objects that both render must also agree where the chart
// copies config/: the rules of every Role and ClusterRole, and the manager Deployment's
// production settings.
func TestChartRendersLikeConfigDefault(t *testing.T) {
	chart := objects(t, render(t))
	config := objects(t, kustomize(t, filepath.Join(testenv.RepoRoot(), "config", "default")))
	chartKeys, configKeys := keys(chart), keys(config)

	allowed := map[string]side{}
	for _, d := range intentional {
		allowed[d.key] = d.side
		_, inChart := chartKeys[d.key]
		_, inConfig := configKeys[d.key]
		if inChart && inConfig {
			t.Logf("%s is now rendered by both (%s): its entry in intentional can go", d.key, d.reason)
		}
	}
	for _, k := range sortedKeys(chartKeys) {
		if _, ok := configKeys[k]; !ok && allowed[k] != chartOnly {
			t.Errorf("the chart renders %s, config/default does not (render it in config/, drop it from the chart, or list it in intentional with the reason)", k)
		}
	}
	for _, k := range sortedKeys(configKeys) {
		if _, ok := chartKeys[k]; !ok && allowed[k] != configOnly {
			t.Errorf("config/default renders %s, the chart does not (add a template under charts/kubepay, or list it in intentional with the reason)", k)
		}
	}

	for _, k := range sortedKeys(chartKeys) {
		c, ok := configKeys[k]
		if !ok {
			continue
		}
		if kind := c.GetKind(); kind == "Role" || kind == "ClusterRole" {
			if got, want := rules(t, chartKeys[k]), rules(t, c); got != want {
				t.Errorf("%s: the chart's rules differ from config/'s\nchart:  %s\nconfig: %s", k, got, want)
			}
			// Aggregation labels grant the rules to view/edit/admin holders: they must agree too.
			if got, want := aggregation(chartKeys[k]), aggregation(c); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: the chart aggregates it into %v, config/ into %v", k, got, want)
			}
		}
	}

	const dep = "Deployment/kubepay-system/kubepay-controller-manager"
	if chartKeys[dep] == nil || configKeys[dep] == nil {
		t.Fatalf("%s is not rendered by both", dep)
	}
	compareManager(t, typed[appsv1.Deployment](t, chartKeys[dep]), typed[appsv1.Deployment](t, configKeys[dep]))
}

// compareManager checks the chart's default Deployment keeps config/manager/manager.yaml's
// settings. The metrics flags and port may differ: the chart serves metrics securely by default
// (metrics.secure), config/default will once the metrics work lands.
func compareManager(t *testing.T, chart, config *appsv1.Deployment) {
	t.Helper()
	cp, kp := chart.Spec.Template.Spec, config.Spec.Template.Spec
	if len(cp.Containers) != 1 || len(kp.Containers) != 1 {
		t.Fatalf("want one container in each manager Deployment, chart has %d, config %d", len(cp.Containers), len(kp.Containers))
	}
	cc, kc := cp.Containers[0], kp.Containers[0]
	same := []struct {
		what          string
		chart, config any
	}{
		{"replicas", chart.Spec.Replicas, config.Spec.Replicas},
		{"strategy.rollingUpdate.maxUnavailable", chart.Spec.Strategy.RollingUpdate.MaxUnavailable, config.Spec.Strategy.RollingUpdate.MaxUnavailable},
		{"terminationGracePeriodSeconds", cp.TerminationGracePeriodSeconds, kp.TerminationGracePeriodSeconds},
		{"pod securityContext", cp.SecurityContext, kp.SecurityContext},
		{"container name", cc.Name, kc.Name},
		{"command", cc.Command, kc.Command},
		{"args other than --metrics-*", withoutMetricsFlags(cc.Args), withoutMetricsFlags(kc.Args)},
		{"ports other than metrics", withoutMetricsPort(cc.Ports), withoutMetricsPort(kc.Ports)},
		{"livenessProbe", cc.LivenessProbe, kc.LivenessProbe},
		{"readinessProbe", cc.ReadinessProbe, kc.ReadinessProbe},
		{"resources", cc.Resources, kc.Resources},
		{"container securityContext", cc.SecurityContext, kc.SecurityContext},
		{"image", cc.Image, kc.Image},
	}
	for _, s := range same {
		if !reflect.DeepEqual(s.chart, s.config) {
			t.Errorf("manager Deployment %s: chart %s, config/default %s", s.what, js(s.chart), js(s.config))
		}
	}
	// Every environment variable config/ sets (POD_NAMESPACE, ...) the chart sets alike; the chart
	// may add the user's (manager.env).
	for _, want := range kc.Env {
		i := slices.IndexFunc(cc.Env, func(e corev1.EnvVar) bool { return e.Name == want.Name })
		if i < 0 || !reflect.DeepEqual(cc.Env[i], want) {
			t.Errorf("manager Deployment env %s: config/default sets %s, the chart %s", want.Name, js(want), js(cc.Env))
		}
	}
	for _, want := range kc.VolumeMounts {
		if !slices.ContainsFunc(cc.VolumeMounts, func(m corev1.VolumeMount) bool { return reflect.DeepEqual(m, want) }) {
			t.Errorf("manager Deployment volumeMount %s of config/default is missing from the chart", js(want))
		}
	}
	hasMetricsPort := func(ports []corev1.ContainerPort) bool {
		for _, p := range ports {
			if p.Name == "metrics" {
				return true
			}
		}
		return false
	}
	if !hasMetricsPort(cc.Ports) || !hasMetricsPort(kc.Ports) {
		t.Errorf("both manager containers must name their metrics port \"metrics\" (the NetworkPolicy and Services refer to it)")
	}
}

func withoutMetricsFlags(args []string) []string {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "--metrics-") {
			out = append(out, a)
		}
	}
	return out
}

func withoutMetricsPort(ports []corev1.ContainerPort) []corev1.ContainerPort {
	var out []corev1.ContainerPort
	for _, p := range ports {
		if p.Name != "metrics" {
			out = append(out, p)
		}
	}
	return out
}

// rules is a Role's or ClusterRole's rules in a canonical form: RBAC grants do not depend on the
// order of rules or of the lists in them.
func rules(t *testing.T, o *unstructured.Unstructured) string {
	t.Helper()
	var rs []string
	for _, r := range typed[rbacv1.ClusterRole](t, o).Rules {
		for _, l := range [][]string{r.APIGroups, r.Resources, r.ResourceNames, r.Verbs, r.NonResourceURLs} {
			sort.Strings(l)
		}
		rs = append(rs, js(r))
	}
	sort.Strings(rs)
	return "[" + strings.Join(rs, ",") + "]"
}

// aggregation is a ClusterRole's rbac.authorization.k8s.io/aggregate-to-* labels.
func aggregation(o *unstructured.Unstructured) map[string]string {
	out := map[string]string{}
	for k, v := range o.GetLabels() {
		if strings.HasPrefix(k, "rbac.authorization.k8s.io/aggregate-to-") {
			out[k] = v
		}
	}
	return out
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// kustomize renders dir with the kubectl hack/build-control-plane.sh provides (kustomize built in).
func kustomize(t *testing.T, dir string) string {
	t.Helper()
	testenv.SkipIfShort(t)
	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), filepath.Join(assets, "kubectl"), "kustomize", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.Bytes())
	}
	return stdout.String()
}
