package manifests

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubepay/kubepay/internal/testenv"
)

// TestDefaultDeploysOnRealAPIServer proves every manifest of config/default valid against a real
// API server (server-side dry run), and checks the Deployment's production settings.
func TestDefaultDeploysOnRealAPIServer(t *testing.T) {
	env := testenv.Start(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubepay-system"}}
	if err := env.Client.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	kubectl := env.AdminKubectl(t, "deployer")
	dir := filepath.Join(testenv.RepoRoot(), "config", "default")
	stdout, stderr, err := kubectl.Run("apply", "--dry-run=server", "-k", dir)
	out := read(stdout)
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server -k %s: %v\n%s\n%s", dir, err, out, read(stderr))
	}
	for _, want := range []string{"deployment.apps/kubepay-controller-manager", "service/kubepay-callback", "networkpolicy.networking.k8s.io/kubepay-manager-ingress", "clusterrole.rbac.authorization.k8s.io/kubepay-manager-role", "customresourcedefinition.apiextensions.k8s.io/paymentorders.kubepay.io"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run did not apply %s:\n%s", want, out)
		}
	}
	checkOverlayOnServer(t, kubectl)

	stdout, stderr, err = kubectl.Run("kustomize", dir)
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, read(stderr))
	}
	var dep *appsv1.Deployment
	for _, doc := range strings.Split(read(stdout), "\n---\n") {
		if strings.Contains(doc, "kind: Deployment") {
			dep = &appsv1.Deployment{}
			if err := yaml.Unmarshal([]byte(doc), dep); err != nil {
				t.Fatal(err)
			}
		}
	}
	if dep == nil {
		t.Fatal("config/default renders no Deployment")
	}
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	checks := []struct {
		ok   bool
		what string
	}{
		{dep.Spec.Replicas != nil && *dep.Spec.Replicas == 2, "two replicas"},
		{strings.Contains(strings.Join(c.Args, " "), "--leader-elect"), "leader election for the controller"},
		{strings.Contains(strings.Join(c.Args, " "), "--notify-bind-address=:8082"), "the callback server on every replica"},
		{pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot, "non-root"},
		{c.SecurityContext != nil && c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem, "read-only root filesystem"},
		{c.SecurityContext != nil && c.SecurityContext.AllowPrivilegeEscalation != nil && !*c.SecurityContext.AllowPrivilegeEscalation, "no privilege escalation"},
		{c.LivenessProbe != nil && c.ReadinessProbe != nil, "probes"},
		{!c.Resources.Requests.Cpu().IsZero() && !c.Resources.Limits.Memory().IsZero(), "resource requests and limits"},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("manager Deployment lacks %s", ch.what)
		}
	}
}

func read(r io.Reader) string {
	var b bytes.Buffer
	_, _ = io.Copy(&b, r)
	return b.String()
}
