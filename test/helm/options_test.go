package helm

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/kubepay/kubepay/internal/testenv"
)

const (
	callbackService = "kubepay-callback"
	metricsService  = "kubepay-controller-manager-metrics-service"
	certDirFlag     = "--notify-cert-dir="
)

func manager(t *testing.T, objs []*unstructured.Unstructured) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment"))
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("the manager Deployment has %d containers, want 1", len(dep.Spec.Template.Spec.Containers))
	}
	return dep, dep.Spec.Template.Spec.Containers[0]
}

func service(t *testing.T, objs []*unstructured.Unstructured, name string) *corev1.Service {
	t.Helper()
	o := findNamed(objs, "Service", name)
	if o == nil {
		t.Fatalf("no Service %s rendered", name)
	}
	return typed[corev1.Service](t, o)
}

func flagValue(args []string, prefix string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, prefix); ok {
			return v, true
		}
	}
	return "", false
}

// TestChartDefaults checks what the defaults promise: two replicas behind a PodDisruptionBudget,
// one leader, the callback server on every replica, metrics over HTTPS with their RBAC, the pod
// hardened as config/manager/manager.yaml, and none of the optional kinds.
func TestChartDefaults(t *testing.T) {
	objs := objects(t, render(t))
	dep, c := manager(t, objs)
	pod := dep.Spec.Template.Spec
	args := strings.Join(c.Args, " ")
	checks := []struct {
		ok   bool
		what string
	}{
		{dep.Spec.Replicas != nil && *dep.Spec.Replicas == 2, "two replicas"},
		{strings.Contains(args, "--leader-elect"), "leader election for the controllers"},
		{strings.Contains(args, "--notify-bind-address=:8082"), "the callback server on every replica"},
		{strings.Contains(args, "--metrics-secure") && strings.Contains(args, "--metrics-bind-address=:8443"), "metrics over HTTPS on :8443"},
		{!strings.Contains(args, certDirFlag), "no callback TLS unless asked"},
		{!strings.Contains(args, "--transition-events") && !strings.Contains(args, "--watch-"), "transition Events on, the whole cluster served"},
		{pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot, "non-root"},
		{pod.SecurityContext != nil && pod.SecurityContext.SeccompProfile != nil && pod.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault, "seccomp RuntimeDefault"},
		{c.SecurityContext != nil && c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem, "read-only root filesystem"},
		{c.SecurityContext != nil && c.SecurityContext.AllowPrivilegeEscalation != nil && !*c.SecurityContext.AllowPrivilegeEscalation, "no privilege escalation"},
		{c.SecurityContext != nil && c.SecurityContext.Capabilities != nil && slices.Equal(c.SecurityContext.Capabilities.Drop, []corev1.Capability{"ALL"}), "all capabilities dropped"},
		{c.LivenessProbe != nil && c.ReadinessProbe != nil, "probes"},
		{!c.Resources.Requests.Cpu().IsZero() && !c.Resources.Limits.Memory().IsZero(), "resource requests and limits"},
		{pod.Affinity != nil && pod.Affinity.PodAntiAffinity != nil && len(pod.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 1, "replicas preferably on different nodes"},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("the default manager Deployment lacks %s", ch.what)
		}
	}

	pdb := typed[policyv1.PodDisruptionBudget](t, find(t, objs, "PodDisruptionBudget"))
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget minAvailable is %v, want 1", pdb.Spec.MinAvailable)
	}
	if !selects(t, pdb.Spec.Selector.MatchLabels, dep.Spec.Template.Labels) {
		t.Errorf("the PodDisruptionBudget's selector %v does not select the manager pods %v", pdb.Spec.Selector.MatchLabels, dep.Spec.Template.Labels)
	}
	for _, name := range []string{callbackService, metricsService} {
		if s := service(t, objs, name); !selects(t, s.Spec.Selector, dep.Spec.Template.Labels) {
			t.Errorf("Service %s selects %v, not the manager pods %v", name, s.Spec.Selector, dep.Spec.Template.Labels)
		}
	}
	if p := service(t, objs, metricsService).Spec.Ports; len(p) != 1 || p[0].Port != 8443 {
		t.Errorf("metrics Service ports %v, want 8443", p)
	}
	for _, name := range []string{"kubepay-metrics-auth-role", "kubepay-metrics-reader"} {
		if findNamed(objs, "ClusterRole", name) == nil {
			t.Errorf("metrics.secure without the ClusterRole %s", name)
		}
	}
	auth := typed[rbacv1.ClusterRole](t, findNamed(objs, "ClusterRole", "kubepay-metrics-auth-role"))
	for _, want := range []string{"tokenreviews", "subjectaccessreviews"} {
		if !slices.ContainsFunc(auth.Rules, func(r rbacv1.PolicyRule) bool {
			return slices.Contains(r.Resources, want) && slices.Contains(r.Verbs, "create")
		}) {
			t.Errorf("the metrics-auth ClusterRole cannot create %s", want)
		}
	}
	for _, kind := range []string{"Ingress", "HTTPRoute", "Certificate", "ServiceMonitor", "PrometheusRule"} {
		if n := len(kinds(objs, kind)); n > 0 {
			t.Errorf("the defaults render %d %s; it is optional and off by default", n, kind)
		}
	}
	checkNetworkPolicyPorts(t, objs, c)
}

// TestChartAllOptionsOn checks that the options of testdata/values-all-on.yaml fit together: the
// Certificate's Secret is what the manager mounts at --notify-cert-dir, the Ingress and the
// HTTPRoute route only /notify/ to the callback Service's port, the ServiceMonitor scrapes the
// metrics Service alone over HTTPS, and the PrometheusRule carries files/prometheus-rules.yaml.
func TestChartAllOptionsOn(t *testing.T) {
	objs := objects(t, render(t, "--values", allOnValues()))
	dep, c := manager(t, objs)
	pod := dep.Spec.Template.Spec

	// Callback TLS: flag, mount and Secret agree.
	dir, ok := flagValue(c.Args, certDirFlag)
	if !ok {
		t.Fatalf("callback.tls on but no %s flag: %v", certDirFlag, c.Args)
	}
	var volume string
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir {
			volume = m.Name
		}
	}
	var secret string
	for _, v := range pod.Volumes {
		if v.Name == volume && v.Secret != nil {
			secret = v.Secret.SecretName
		}
	}
	cert := find(t, objs, "Certificate")
	certSecret, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	if secret == "" || secret != certSecret {
		t.Errorf("the manager serves callback TLS from %s, mounted from Secret %q; the Certificate writes Secret %q", dir, secret, certSecret)
	}
	dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	if !slices.Contains(dnsNames, callbackService+"."+namespace+".svc") {
		t.Errorf("the Certificate's dnsNames %v lack the callback Service's in-cluster name", dnsNames)
	}
	cb := service(t, objs, callbackService)
	if len(cb.Spec.Ports) != 1 || cb.Spec.Ports[0].Port != 443 || cb.Spec.Ports[0].TargetPort.String() != "callback" {
		t.Errorf("the callback Service with TLS has ports %v, want 443 to the callback port", cb.Spec.Ports)
	}

	// Ingress: every host routes Prefix /notify/ and nothing else, to the callback Service.
	ing := typed[networkingv1.Ingress](t, find(t, objs, "Ingress"))
	if len(ing.Spec.Rules) == 0 {
		t.Errorf("the Ingress has no rules")
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil || len(r.HTTP.Paths) != 1 {
			t.Errorf("Ingress host %s: want exactly one path, got %v", r.Host, r.HTTP)
			continue
		}
		p := r.HTTP.Paths[0]
		if p.Path != "/notify/" || p.PathType == nil || *p.PathType != networkingv1.PathTypePrefix ||
			p.Backend.Service == nil || p.Backend.Service.Name != callbackService || p.Backend.Service.Port.Name != "callback" {
			t.Errorf("Ingress host %s routes %s, want Prefix /notify/ to %s port callback", r.Host, js(p), callbackService)
		}
	}

	// HTTPRoute: one rule, PathPrefix /notify/, to the callback Service's port.
	route := find(t, objs, "HTTPRoute")
	var spec struct {
		Rules []struct {
			Matches []struct {
				Path struct{ Type, Value string } `json:"path"`
			} `json:"matches"`
			BackendRefs []struct {
				Name string `json:"name"`
				Port int32  `json:"port"`
			} `json:"backendRefs"`
		} `json:"rules"`
	}
	fromMap(t, route.Object["spec"], &spec)
	if len(spec.Rules) != 1 || len(spec.Rules[0].Matches) != 1 || len(spec.Rules[0].BackendRefs) != 1 {
		t.Fatalf("the HTTPRoute should have one rule with one match and one backend: %s", js(route.Object["spec"]))
	}
	m, b := spec.Rules[0].Matches[0].Path, spec.Rules[0].BackendRefs[0]
	if m.Type != "PathPrefix" || m.Value != "/notify/" || b.Name != callbackService || b.Port != cb.Spec.Ports[0].Port {
		t.Errorf("the HTTPRoute routes %s %s to %s:%d, want PathPrefix /notify/ to %s:%d", m.Type, m.Value, b.Name, b.Port, callbackService, cb.Spec.Ports[0].Port)
	}

	// ServiceMonitor: selects the metrics Service only, on its port, over HTTPS.
	sm := find(t, objs, "ServiceMonitor")
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	ms := service(t, objs, metricsService)
	if !selects(t, sel, ms.Labels) || selects(t, sel, cb.Labels) {
		t.Errorf("the ServiceMonitor selector %v must match the metrics Service (%v) and not the callback Service (%v)", sel, ms.Labels, cb.Labels)
	}
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(eps) != 1 {
		t.Fatalf("the ServiceMonitor has %d endpoints, want 1", len(eps))
	}
	ep, _ := eps[0].(map[string]any)
	if ep["port"] != ms.Spec.Ports[0].Name || ep["scheme"] != "https" {
		t.Errorf("the ServiceMonitor scrapes port %v over %v; the metrics Service's port is %q and metrics.secure wants https", ep["port"], ep["scheme"], ms.Spec.Ports[0].Name)
	}

	// PrometheusRule: the groups of files/prometheus-rules.yaml, unchanged.
	b2, err := os.ReadFile(filepath.Join(chartDir(), "files", "prometheus-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	if err := yaml.Unmarshal(b2, &file); err != nil {
		t.Fatal(err)
	}
	groups, _, _ := unstructured.NestedSlice(find(t, objs, "PrometheusRule").Object, "spec", "groups")
	if !reflect.DeepEqual(groups, file["groups"]) {
		t.Errorf("the PrometheusRule's groups differ from files/prometheus-rules.yaml:\n%s\n%s", js(groups), js(file["groups"]))
	}

	pdb := typed[policyv1.PodDisruptionBudget](t, find(t, objs, "PodDisruptionBudget"))
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 2 {
		t.Errorf("PodDisruptionBudget minAvailable %v, want the 2 the values ask", pdb.Spec.MinAvailable)
	}
	if a := pod.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Errorf("podAntiAffinity hard without a required anti-affinity term: %s", js(a))
	}
	if tsc := pod.TopologySpreadConstraints; len(tsc) != 1 || tsc[0].LabelSelector == nil || !selects(t, tsc[0].LabelSelector.MatchLabels, dep.Spec.Template.Labels) {
		t.Errorf("the topology spread constraint must default its labelSelector to the manager pods: %s", js(tsc))
	}
	checkNetworkPolicyPorts(t, objs, c)
}

// TestChartValueCombinations covers the values that change what is rendered, and the ones the
// chart (its templates or values.schema.json) refuses with a message rather than render something
// broken.
func TestChartValueCombinations(t *testing.T) {
	testenv.SkipIfShort(t)
	t.Run("one replica has no PodDisruptionBudget", func(t *testing.T) {
		objs := objects(t, render(t, "--set", "replicaCount=1"))
		if n := len(kinds(objs, "PodDisruptionBudget")); n != 0 {
			t.Errorf("replicaCount 1 renders %d PodDisruptionBudgets; minAvailable 1 would block every drain", n)
		}
	})
	t.Run("plain metrics", func(t *testing.T) {
		objs := objects(t, render(t, "--set", "metrics.secure=false"))
		_, c := manager(t, objs)
		if v, _ := flagValue(c.Args, "--metrics-bind-address="); v != ":8080" || slices.Contains(c.Args, "--metrics-secure") {
			t.Errorf("metrics.secure=false: args %v, want --metrics-bind-address=:8080 without --metrics-secure", c.Args)
		}
		if p := service(t, objs, metricsService).Spec.Ports; len(p) != 1 || p[0].Port != 8080 {
			t.Errorf("metrics Service ports %v, want 8080", p)
		}
		if findNamed(objs, "ClusterRole", "kubepay-metrics-auth-role") != nil {
			t.Errorf("metrics.secure=false still renders the metrics-auth ClusterRole")
		}
		checkNetworkPolicyPorts(t, objs, c)
	})
	t.Run("no metrics", func(t *testing.T) {
		objs := objects(t, render(t, "--set", "metrics.enabled=false"))
		_, c := manager(t, objs)
		if v, _ := flagValue(c.Args, "--metrics-bind-address="); v != "0" {
			t.Errorf("metrics.enabled=false: --metrics-bind-address=%s, want 0", v)
		}
		if findNamed(objs, "Service", metricsService) != nil {
			t.Errorf("metrics.enabled=false still renders the metrics Service")
		}
		checkNetworkPolicyPorts(t, objs, c)
	})
	t.Run("a share of the cluster without transition Events", func(t *testing.T) {
		// Several releases split a cluster by these flags; a value that renders no flag would
		// make every release serve everything.
		objs := objects(t, render(t, "--set", "manager.transitionEvents=false",
			"--set", "manager.watchNamespaces={shop-a,shop-b}", "--set", "manager.watchLabelSelector=kubepay.io/shard=a"))
		_, c := manager(t, objs)
		for flag, want := range map[string]string{"--transition-events=": "false", "--watch-namespaces=": "shop-a,shop-b", "--watch-label-selector=": "kubepay.io/shard=a"} {
			if v, ok := flagValue(c.Args, flag); !ok || v != want {
				t.Errorf("args %v: want %s%s", c.Args, flag, want)
			}
		}
	})
	t.Run("another release name", func(t *testing.T) {
		out, err := runHelm(t, "template", "payments", "charts/kubepay", "--namespace", "shop")
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objects(t, out) {
			if !strings.HasPrefix(o.GetName(), "payments-kubepay-") {
				t.Errorf("release payments renders %s; every name should start with payments-kubepay-", key(o))
			}
			if o.GetNamespace() != "" && o.GetNamespace() != "shop" {
				t.Errorf("%s is outside the release namespace shop", key(o))
			}
		}
	})
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{"several replicas without leader election", []string{"leaderElection.enabled=false"}, "leaderElection.enabled=false with replicaCount > 1"},
		{"ingress without hosts", []string{"ingress.enabled=true"}, "ingress.enabled needs ingress.hosts"},
		{"route without a gateway", []string{"httpRoute.enabled=true"}, "httpRoute.enabled needs httpRoute.parentRefs"},
		{"callback TLS without a Secret", []string{"callback.tls.enabled=true"}, "callback.tls.enabled needs callback.tls.secretName or callback.tls.certManager.enabled"},
		{"Certificate without an issuer", []string{"callback.tls.enabled=true", "callback.tls.certManager.enabled=true"}, "callback.tls.certManager.issuerRef is required"},
		{"ServiceMonitor without metrics", []string{"serviceMonitor.enabled=true", "metrics.enabled=false"}, "serviceMonitor.enabled needs metrics.enabled"},
		{"unknown anti-affinity preset", []string{"podAntiAffinity=sometimes"}, "at '/podAntiAffinity': value must be one of 'soft', 'hard', ''"},
		{"a misspelt value (values.schema.json)", []string{"replicas=3"}, "additional properties 'replicas' not allowed"},
		{"a digest that is not sha256", []string{"image.digest=latest"}, "/image/digest"},
		{"a callback base URL with a query", []string{"callback.baseURL=https://pay.example.com/?x=1"}, "/callback/baseURL"},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			args := []string{"template", release, "charts/kubepay", "--namespace", namespace}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			_, err := runHelm(t, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("--set %v: want the error %q, got %v", tc.set, tc.want, err)
			}
		})
	}
}

// checkNetworkPolicyPorts checks the NetworkPolicy admits ports the manager container names, and
// the metrics port only when metrics are served.
func checkNetworkPolicyPorts(t *testing.T, objs []*unstructured.Unstructured, c corev1.Container) {
	t.Helper()
	np := typed[networkingv1.NetworkPolicy](t, find(t, objs, "NetworkPolicy"))
	names := map[string]bool{}
	for _, p := range c.Ports {
		names[p.Name] = true
	}
	var admitted []string
	for _, r := range np.Spec.Ingress {
		for _, p := range r.Ports {
			if p.Port == nil || !names[p.Port.String()] {
				t.Errorf("the NetworkPolicy admits port %v, which the manager container does not name", p.Port)
				continue
			}
			admitted = append(admitted, p.Port.String())
		}
	}
	slices.Sort(admitted)
	want := []string{"callback"}
	if names["metrics"] {
		want = []string{"callback", "metrics"}
	}
	if !slices.Equal(admitted, want) {
		t.Errorf("the NetworkPolicy admits %v, want %v", admitted, want)
	}
}

func selects(t *testing.T, selector, lbls map[string]string) bool {
	t.Helper()
	return len(selector) > 0 && labels.SelectorFromSet(selector).Matches(labels.Set(lbls))
}

func fromMap(t *testing.T, v any, into any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
}
