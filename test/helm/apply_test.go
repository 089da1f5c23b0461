package helm

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kubepay/kubepay/internal/testenv"
)

// TestChartAppliesOnRealAPIServer renders the chart (CRDs included) and applies it with
// `kubectl apply --dry-run=server` on a real kube-apiserver: every object must pass the API
// server's validation, strict field validation and admission, and the manager's pod template must
// raise no warning in a namespace that warns on Pod Security "restricted" (as config/default's
// namespace enforces). The optional kinds' CRDs (ServiceMonitor, PrometheusRule, Certificate,
// HTTPRoute) are the minimal ones in testdata/crds; Ingress is built in.
func TestChartAppliesOnRealAPIServer(t *testing.T) {
	env := testenv.Start(t)
	crdDir := filepath.Join(testenv.RepoRoot(), "test", "helm", "testdata", "crds")
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{crdDir}, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("installing the optional kinds' CRDs from %s: %v", crdDir, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	}}}
	if err := env.Client.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	kubectl := env.AdminKubectl(t, "deployer")
	apply := func(t *testing.T, manifest string) (stdout, stderr string, err error) {
		t.Helper()
		file := filepath.Join(t.TempDir(), "chart.yaml")
		if err := os.WriteFile(file, []byte(manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		o, e, err := kubectl.Run("apply", "--dry-run=server", "-f", file)
		return read(o), read(e), err
	}

	for _, tc := range []struct {
		name      string
		args      []string
		wantKinds []string
	}{
		{"defaults", nil, []string{"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment", "NetworkPolicy", "PodDisruptionBudget"}},
		{"all options on", []string{"--values", allOnValues()}, []string{"Ingress", "HTTPRoute", "Certificate", "ServiceMonitor", "PrometheusRule"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			manifest := render(t, tc.args...)
			objs := objects(t, manifest)
			for _, k := range tc.wantKinds {
				if len(kinds(objs, k)) == 0 {
					t.Errorf("the chart rendered no %s", k)
				}
			}
			stdout, stderr, err := apply(t, manifest)
			if err != nil {
				t.Fatalf("kubectl apply --dry-run=server: %v\n%s\n%s", err, stdout, stderr)
			}
			if w := warnings(stderr); len(w) > 0 {
				t.Errorf("the API server warned:\n%s", strings.Join(w, "\n"))
			}
			// One "(server dry run)" line per object: none was skipped.
			if got := strings.Count(stdout, "(server dry run)"); got != len(objs) {
				t.Errorf("the dry run applied %d objects, the chart rendered %d:\n%s", got, len(objs), stdout)
			}
		})
	}

	// The warning check above must be able to fail: a container that may escalate privileges
	// violates "restricted", and this API server says so.
	t.Run("PodSecurity warnings are seen", func(t *testing.T) {
		manifest := render(t, "--set", "containerSecurityContext.allowPrivilegeEscalation=true")
		_, stderr, err := apply(t, manifest)
		if err != nil {
			t.Fatalf("kubectl apply --dry-run=server: %v\n%s", err, stderr)
		}
		if !strings.Contains(stderr, "PodSecurity") {
			t.Errorf("no Pod Security warning for a container allowed to escalate privileges; the defaults' check proves nothing:\n%s", stderr)
		}
	})
}

// warnings are kubectl's warning lines but one: testenv.Start created kubepay's CRDs without
// kubectl, so applying them again says they lack kubectl's last-applied annotation.
func warnings(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "Warning:") && !strings.Contains(l, "missing the kubectl.kubernetes.io/last-applied-configuration annotation") {
			out = append(out, l)
		}
	}
	return out
}

func read(r io.Reader) string {
	var b bytes.Buffer
	_, _ = io.Copy(&b, r)
	return b.String()
}
