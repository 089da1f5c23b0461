package manifests

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubepay/kubepay/internal/testenv"
)

// TestDefaultServesMetricsSecurely renders config/default and checks the pieces of secure metrics
// fit together as deployed: the manager serves HTTPS with the token check on 8443, the metrics
// Service reaches that port, the manager's ServiceAccount may make the reviews the check needs, and
// the role scrapers are bound to exists. (internal/metrics/serving proves on an API server that
// these roles are enough; this proves kustomize ships them wired to the right names.)
func TestDefaultServesMetricsSecurely(t *testing.T) {
	// kubectl comes with the control-plane binaries, which -short runs without.
	testenv.SkipIfShort(t)
	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	rendered := run(t, filepath.Join(assets, "kubectl"), "kustomize", filepath.Join(testenv.RepoRoot(), "config", "default"))
	docs := map[string]string{} // "Kind/name" -> document
	for doc := range strings.SplitSeq(rendered, "\n---\n") {
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("reading a rendered object: %v\n%s", err, doc)
		}
		docs[meta.Kind+"/"+meta.Metadata.Name] = doc
	}
	get := func(key string, into any) bool {
		t.Helper()
		doc, ok := docs[key]
		if !ok {
			t.Errorf("config/default renders no %s", key)
			return false
		}
		if err := yaml.Unmarshal([]byte(doc), into); err != nil {
			t.Fatalf("reading %s: %v", key, err)
		}
		return true
	}

	c := deployment(t, rendered).Spec.Template.Spec.Containers[0]
	var metricsPort int32
	for _, p := range c.Ports {
		if p.Name == "metrics" {
			metricsPort = p.ContainerPort
		}
	}
	var svc corev1.Service
	var authRole, reader rbacv1.ClusterRole
	var authBinding rbacv1.ClusterRoleBinding
	haveSvc := get("Service/kubepay-controller-manager-metrics-service", &svc)
	get("ClusterRole/kubepay-metrics-auth-role", &authRole)
	get("ClusterRole/kubepay-metrics-reader", &reader)
	get("ClusterRoleBinding/kubepay-metrics-auth-rolebinding", &authBinding)

	checks := []struct {
		ok   bool
		what string
	}{
		{slices.Contains(c.Args, "--metrics-secure"), "the manager runs with --metrics-secure (HTTPS and the token check)"},
		{slices.Contains(c.Args, "--metrics-bind-address=:8443"), "the manager serves metrics on :8443"},
		{metricsPort == 8443, "the container port named metrics is 8443, which the NetworkPolicy and the Service name"},
		{haveSvc && len(svc.Spec.Ports) == 1 && svc.Spec.Ports[0].Port == 8443 && svc.Spec.Ports[0].TargetPort.StrVal == "metrics" && svc.Spec.Ports[0].Name == "https",
			"the metrics Service exposes port https 8443 to the container's metrics port (config/prometheus's ServiceMonitor scrapes port https)"},
		{allows(authRole.Rules, "authentication.k8s.io", "tokenreviews", "create") && allows(authRole.Rules, "authorization.k8s.io", "subjectaccessreviews", "create"),
			"metrics-auth-role allows creating TokenReviews and SubjectAccessReviews"},
		{authBinding.RoleRef.Name == "kubepay-metrics-auth-role" && len(authBinding.Subjects) == 1 &&
			authBinding.Subjects[0].Kind == rbacv1.ServiceAccountKind && authBinding.Subjects[0].Name == "kubepay-controller-manager" && authBinding.Subjects[0].Namespace == "kubepay-system",
			"metrics-auth-role is bound to the manager's ServiceAccount kubepay-system/kubepay-controller-manager"},
		{len(reader.Rules) == 1 && slices.Equal(reader.Rules[0].NonResourceURLs, []string{"/metrics"}) && slices.Equal(reader.Rules[0].Verbs, []string{"get"}),
			"metrics-reader grants get on /metrics and nothing else"},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("config/default: want %s", ch.what)
		}
	}
}

func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}
