package rules

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kubepay/kubepay/internal/testenv"
)

// object is the part of a rendered manifest these checks read.
type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		// Service
		Ports []struct {
			Name string `json:"name"`
		} `json:"ports"`
		// ServiceMonitor
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port   string `json:"port"`
			Scheme string `json:"scheme"`
			Path   string `json:"path"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// render runs kubectl kustomize (the kubectl hack/ builds) on dir.
func render(t *testing.T, dir string) []object {
	t.Helper()
	testenv.SkipIfShort(t) // the kubectl comes with the control plane, which -short goes without
	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(assets, "kubectl"), "kustomize", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.Bytes())
	}
	var out []object
	for doc := range strings.SplitSeq(stdout.String(), "\n---\n") {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("reading an object rendered from %s: %v\n%s", dir, err, doc)
		}
		out = append(out, o)
	}
	return out
}

// TestPrometheusComponent renders config/default as shipped, and with its commented-out
// config/prometheus component switched on, as its comment tells users to do. Shipped, it must
// hold no Prometheus Operator object (a cluster without the Operator's CRDs would refuse the whole
// apply). Switched on, the ServiceMonitor and PrometheusRule must land in kubepay's namespace and
// the ServiceMonitor must select the metrics Service, only it, by a port it has, over HTTPS.
func TestPrometheusComponent(t *testing.T) {
	testenv.SkipIfShort(t)
	root := testenv.RepoRoot()
	for _, o := range render(t, filepath.Join(root, "config", "default")) {
		if strings.HasPrefix(o.APIVersion, "monitoring.coreos.com/") {
			t.Errorf("config/default renders %s %s: the Prometheus Operator objects must stay optional", o.Kind, o.Metadata.Name)
		}
	}

	tmp := t.TempDir()
	if err := os.CopyFS(filepath.Join(tmp, "config"), os.DirFS(filepath.Join(root, "config"))); err != nil {
		t.Fatal(err)
	}
	kust := filepath.Join(tmp, "config", "default", "kustomization.yaml")
	b, err := os.ReadFile(kust)
	if err != nil {
		t.Fatal(err)
	}
	const off, on = "#components:\n#- ../prometheus\n", "components:\n- ../prometheus\n"
	if !bytes.Contains(b, []byte(off)) {
		t.Fatalf("config/default/kustomization.yaml no longer has the commented-out lines\n%s\nthat switch config/prometheus on; update them and this test together", off)
	}
	if err := os.WriteFile(kust, bytes.Replace(b, []byte(off), []byte(on), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	objs := render(t, filepath.Join(tmp, "config", "default"))

	var monitor *object
	services := map[string]object{}
	kinds := map[string]bool{}
	for i, o := range objs {
		kinds[o.Kind] = true
		switch o.Kind {
		case "ServiceMonitor":
			monitor = &objs[i]
		case "Service":
			services[o.Metadata.Name] = o
		}
		if (o.Kind == "ServiceMonitor" || o.Kind == "PrometheusRule") && o.Metadata.Namespace != "kubepay-system" {
			t.Errorf("%s %s is rendered into namespace %q, want kubepay-system with the rest of kubepay", o.Kind, o.Metadata.Name, o.Metadata.Namespace)
		}
	}
	if !kinds["PrometheusRule"] || monitor == nil {
		t.Fatalf("with config/prometheus on, config/default renders no PrometheusRule or ServiceMonitor (kinds: %v)", kinds)
	}
	var selected []string
	for name, svc := range services {
		if matches(monitor.Spec.Selector.MatchLabels, svc.Metadata.Labels) {
			selected = append(selected, name)
		}
	}
	const metricsService = "kubepay-controller-manager-metrics-service"
	if len(selected) != 1 || selected[0] != metricsService {
		t.Fatalf("ServiceMonitor %s selects Services %v, want only %s (the callback Service has no metrics)", monitor.Metadata.Name, selected, metricsService)
	}
	for _, ep := range monitor.Spec.Endpoints {
		hasPort := false
		for _, p := range services[metricsService].Spec.Ports {
			hasPort = hasPort || p.Name == ep.Port
		}
		if !hasPort || ep.Scheme != "https" || ep.Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoint %+v: want https on /metrics through a port of %s (ports %+v)", ep, metricsService, services[metricsService].Spec.Ports)
		}
	}
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
