package helm

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubepay/kubepay/internal/testenv"
)

// TestChartCarriesGeneratedFiles fails when the chart's copies of what `make manifests` generates
// differ from config/: every CRD of config/crd/bases (one added later included, one removed
// included) byte for byte in charts/kubepay/crds, and config/rbac/role.yaml (the manager
// ClusterRole controller-gen writes from the +kubebuilder:rbac markers) in
// charts/kubepay/files/manager-role.yaml, whose rules the chart's ClusterRole renders. Plain file
// reads: it runs under -short too.
func TestChartCarriesGeneratedFiles(t *testing.T) {
	root := testenv.RepoRoot()
	const fix = "run `make manifests` (or `make helm-sync`) and commit charts/kubepay"

	generated := yamlFiles(t, filepath.Join(root, "config", "crd", "bases"))
	inChart := yamlFiles(t, filepath.Join(chartDir(), "crds"))
	if len(generated) == 0 {
		t.Fatal("config/crd/bases has no CRDs")
	}
	for name, want := range generated {
		got, ok := inChart[name]
		switch {
		case !ok:
			t.Errorf("charts/kubepay/crds lacks %s: %s", name, fix)
		case !bytes.Equal(got, want):
			t.Errorf("charts/kubepay/crds/%s differs from config/crd/bases/%s: %s", name, name, fix)
		}
	}
	for name := range inChart {
		if _, ok := generated[name]; !ok {
			t.Errorf("charts/kubepay/crds/%s is not in config/crd/bases (a CRD removed from the API?): %s", name, fix)
		}
	}

	role, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	chartRole, err := os.ReadFile(filepath.Join(chartDir(), "files", "manager-role.yaml"))
	if err != nil {
		t.Fatalf("the chart's copy of the manager role: %v (%s)", err, fix)
	}
	if !bytes.Equal(chartRole, role) {
		t.Errorf("charts/kubepay/files/manager-role.yaml differs from config/rbac/role.yaml: %s", fix)
	}

	// The alerts: config/prometheus/rules.yaml is the one source (test/rules checks its
	// expressions against the metrics the manager exports).
	rules, err := os.ReadFile(filepath.Join(root, "config", "prometheus", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	chartRules, err := os.ReadFile(filepath.Join(chartDir(), "files", "prometheus-rules.yaml"))
	if err != nil {
		t.Fatalf("the chart's copy of the alert rules: %v (%s)", err, fix)
	}
	if !bytes.Equal(chartRules, rules) {
		t.Errorf("charts/kubepay/files/prometheus-rules.yaml differs from config/prometheus/rules.yaml: %s", fix)
	}
}

func yamlFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}
