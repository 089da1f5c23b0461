package serving_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/localrun"
	"github.com/kubepay/kubepay/internal/manager"
	"github.com/kubepay/kubepay/internal/metrics/serving"
	"github.com/kubepay/kubepay/internal/testenv"
)

// TestSecureMetricsOnAPIServer runs kubepay's manager (manager.New, as cmd/manager does) with the
// metrics options --metrics-secure builds, against a real API server, as the controller-manager
// ServiceAccount with only the RBAC that config/rbac ships. Scrapers are ServiceAccounts with
// tokens from the TokenRequest API, as Prometheus's would be. It proves the shipped roles are
// enough for the manager to check tokens (a missing metrics-auth rule would answer 500, not 200),
// that only a token bound to the shipped metrics-reader role is served, and that what is served
// includes the state gauges read from the manager's cache.
func TestSecureMetricsOnAPIServer(t *testing.T) {
	env := testenv.Start(t)
	ctx := t.Context()
	ns := env.Namespace(t)

	// config/rbac's ServiceAccount and roles, bound in this test's namespace as kustomize binds
	// them in kubepay-system.
	applyShippedRBAC(t, env, ns, "role.yaml", "role_binding.yaml", "metrics_auth_role.yaml", "metrics_auth_role_binding.yaml", "metrics_reader_role.yaml")
	managerSA := serviceAccount(t, env, ns, "controller-manager")
	scraper := serviceAccount(t, env, ns, "prometheus")
	stranger := serviceAccount(t, env, ns, "stranger")
	bind(t, env, ns, "metrics-reader", scraper.Name)

	// The RBAC authorizer learns bindings from a watch: until it has, the filter's answers would
	// be stale (and a denial is cached for 30 s), so wait for the API server to agree first.
	waitAllowed(t, env, "system:serviceaccount:"+ns+":controller-manager", authorizationv1.ResourceAttributes{Group: "authentication.k8s.io", Resource: "tokenreviews", Verb: "create"}, nil)
	waitAllowed(t, env, "system:serviceaccount:"+ns+":controller-manager", authorizationv1.ResourceAttributes{Group: "authorization.k8s.io", Resource: "subjectaccessreviews", Verb: "create"}, nil)
	waitAllowed(t, env, "system:serviceaccount:"+ns+":prometheus", authorizationv1.ResourceAttributes{}, &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"})

	certDir, roots := servingCert(t)
	addrs, err := localrun.FreeAddrs(1)
	if err != nil {
		t.Fatal(err)
	}
	mgrCfg := rest.AnonymousClientConfig(env.Config)
	mgrCfg.BearerToken = token(t, env, managerSA)
	mgr, err := manager.New(mgrCfg, manager.Options{
		Metrics:           serving.Options(serving.Flags{BindAddress: addrs[0], Secure: true, CertDir: certDir}),
		ProbeBindAddress:  "0",
		NotifyBindAddress: "0",
	})
	if err != nil {
		t.Fatalf("creating the manager with secure metrics: %v", err)
	}
	mgrCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("manager exited with: %v", err)
		}
	})

	// An order the state gauges must count: its provider does not exist, so it stays Pending.
	order := &v1.PaymentOrder{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stuck"},
		Spec: v1.PaymentOrderSpec{
			ProviderRef: v1.ProviderReference{Name: "absent"}, Amount: "25.00", Currency: "CNY",
			Channel: "sandbox", Subject: "Flat white",
		},
	}
	if err := env.Client.Create(ctx, order); err != nil {
		t.Fatalf("creating PaymentOrder %s/%s: %v", ns, order.Name, err)
	}

	url := "https://" + addrs[0] + "/metrics"
	https := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	// Wait for the server to listen: any HTTP answer will do.
	testenv.Eventually(t, time.Minute, func() (bool, string) {
		_, _, err := get(https, url, "")
		return err == nil, fmt.Sprintf("metrics server at %s: %v", url, err)
	})

	scraperToken, strangerToken := token(t, env, scraper), token(t, env, stranger)
	cases := []struct {
		name, url, token string
		client           *http.Client
		status           int
		body             string
		reason           string
	}{
		{"no token", url, "", https, http.StatusUnauthorized, "Unauthorized", "anonymous requests are refused: the filter turns anonymous authentication off"},
		// controller-runtime's filter passes on the TokenReview's error for a token the API server
		// cannot parse, and answers that 500, not 401: refused all the same. Pinned so a change
		// upstream is noticed (docs/alerts.md tells scrapers' operators what each answer means).
		{"token not from this cluster", url, "not-a-token", https, http.StatusInternalServerError, "Authentication failed", "a bearer token the API server's TokenReview does not accept authenticates nobody"},
		{"ServiceAccount without metrics-reader", url, strangerToken, https, http.StatusForbidden, "Authorization denied for user system:serviceaccount:" + ns + ":stranger", "an authenticated identity with no grant on /metrics is forbidden"},
		{"ServiceAccount bound to metrics-reader", url, scraperToken, https, http.StatusOK, "kubepay_refunds{phase=\"Pending\"}", "the shipped metrics-reader role is all a scraper needs, and the state gauges are served"},
	}
	// The state gauges are registered by a leader-only runnable: wait for it, not for a guess.
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		status, body, err := get(https, url, scraperToken)
		return err == nil && status == http.StatusOK && strings.Contains(body, "kubepay_refunds{"),
			fmt.Sprintf("scrape answered %d (err %v) without the state gauges yet", status, err)
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, err := get(tc.client, tc.url, tc.token)
			if err != nil {
				t.Fatalf("%s: GET %s: %v", tc.reason, tc.url, err)
			}
			if status != tc.status || !strings.Contains(body, tc.body) {
				t.Errorf("%s: GET %s answered %d, want %d with %q; body:\n%.2000s", tc.reason, tc.url, status, tc.status, tc.body, body)
			}
		})
	}

	// Clear text is not served, even to an allowed token: the TLS listener drops the connection
	// (or, depending on timing, answers 400), never the metrics.
	plain := strings.Replace(url, "https://", "http://", 1)
	if status, body, err := get(http.DefaultClient, plain, scraperToken); err == nil && (status == http.StatusOK || strings.Contains(body, "kubepay_")) {
		t.Errorf("GET %s over plain HTTP with an allowed token answered %d with metrics; want no metrics in clear text", plain, status)
	}

	// The order reaches the gauges through the cache, once the manager has seen it.
	want := fmt.Sprintf("kubepay_orders{namespace=%q,phase=\"Pending\",provider=\"absent\"} 1", ns)
	testenv.Eventually(t, time.Minute, func() (bool, string) {
		status, body, err := get(https, url, scraperToken)
		return err == nil && status == http.StatusOK && strings.Contains(body, want),
			fmt.Sprintf("scrape of %s by %s: status %d, err %v; want a line %s", url, scraper.Name, status, err, want)
	})
}

func get(c *http.Client, url, token string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// applyShippedRBAC creates the objects of config/rbac's files, with their ServiceAccount
// subjects moved from kustomize's namespace placeholder ("system") to ns.
func applyShippedRBAC(t *testing.T, env *testenv.Env, ns string, files ...string) {
	t.Helper()
	decode := serializer.NewCodecFactory(env.Scheme).UniversalDeserializer().Decode
	for _, f := range files {
		path := filepath.Join(testenv.RepoRoot(), "config", "rbac", f)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := docs.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("reading %s: %v", path, err)
			}
			if len(bytes.TrimSpace(doc)) == 0 || string(bytes.TrimSpace(doc)) == "---" {
				continue
			}
			obj, _, err := decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("decoding %s: %v", path, err)
			}
			if b, ok := obj.(*rbacv1.ClusterRoleBinding); ok {
				for i := range b.Subjects {
					b.Subjects[i].Namespace = ns
				}
			}
			co, ok := obj.(client.Object)
			if !ok {
				t.Fatalf("%s holds a %T, not an API object", path, obj)
			}
			if err := env.Client.Create(t.Context(), co); err != nil {
				t.Fatalf("creating %s %s from %s: %v", obj.GetObjectKind().GroupVersionKind().Kind, co.GetName(), path, err)
			}
		}
	}
}

func serviceAccount(t *testing.T, env *testenv.Env, ns, name string) *corev1.ServiceAccount {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := env.Client.Create(t.Context(), sa); err != nil {
		t.Fatalf("creating ServiceAccount %s/%s: %v", ns, name, err)
	}
	return sa
}

// bind grants ClusterRole role to ServiceAccount ns/sa, as a cluster admin grants Prometheus the
// metrics-reader role.
func bind(t *testing.T, env *testenv.Env, ns, role, sa string) {
	t.Helper()
	b := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role + "-" + ns + "-" + sa},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa}},
	}
	if err := env.Client.Create(t.Context(), b); err != nil {
		t.Fatalf("binding ClusterRole %s to ServiceAccount %s/%s: %v", role, ns, sa, err)
	}
}

// token asks the TokenRequest API for a bearer token of sa, the kind a projected volume gives a pod.
func token(t *testing.T, env *testenv.Env, sa *corev1.ServiceAccount) string {
	t.Helper()
	expiry := int64(3600)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}
	if err := env.Client.SubResource("token").Create(t.Context(), sa, tr); err != nil {
		t.Fatalf("requesting a token for ServiceAccount %s/%s: %v", sa.Namespace, sa.Name, err)
	}
	if tr.Status.Token == "" {
		t.Fatalf("TokenRequest for ServiceAccount %s/%s returned no token", sa.Namespace, sa.Name)
	}
	return tr.Status.Token
}

// waitAllowed waits until the API server's authorizer allows user the action.
func waitAllowed(t *testing.T, env *testenv.Env, user string, res authorizationv1.ResourceAttributes, nonRes *authorizationv1.NonResourceAttributes) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user, NonResourceAttributes: nonRes}}
		if nonRes == nil {
			sar.Spec.ResourceAttributes = &res
		}
		if err := env.Client.Create(t.Context(), sar); err != nil {
			return false, fmt.Sprintf("SubjectAccessReview for %s: %v", user, err)
		}
		return sar.Status.Allowed, fmt.Sprintf("%s is not allowed %+v %+v yet: %s", user, res, nonRes, sar.Status.Reason)
	})
}

// servingCert writes a self-signed certificate for 127.0.0.1 where --metrics-cert-dir reads it,
// and returns the directory and a pool that trusts it, so the test verifies TLS instead of
// skipping verification.
func servingCert(t *testing.T) (string, *x509.CertPool) {
	t.Helper()
	cert, key, err := certutil.GenerateSelfSignedCertKey("localhost", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cert) {
		t.Fatal("the generated serving certificate does not parse")
	}
	return dir, pool
}
