package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/localrun"
)

const (
	benchNamespace = "bench"
	gatewayAddr    = "127.0.0.1:18090"
	callbackAddr   = "127.0.0.1:18082"
	metricsAddr    = "127.0.0.1:18080"
	probeAddr      = "127.0.0.1:18081"
	pprofAddr      = "127.0.0.1:18083"
	benchAPIKey    = "sk_bench"
)

// signingKey is the gateway's notification key; the bench holds it too so it can sign the
// notifications it posts, exactly as the gateway would.
var signingKey *rsa.PrivateKey

// startKubepay runs the gateway and the manager as processes, and creates the provider.
func (b *bench) startKubepay(ctx context.Context) error {
	var err error
	if signingKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return err
	}
	keyFile := filepath.Join(b.dir, "signing-key.pem")
	der, _ := x509.MarshalPKCS8PrivateKey(signingKey)
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	user, err := b.env.Env.AddUser(envtest.User{Name: "bench", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(b.dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return err
	}
	gw, err := localrun.Start(b.dir, "sandbox-gateway", b.bins.Gateway, "--bind-address", gatewayAddr,
		"--api-key", benchAPIKey, "--signing-key-file", keyFile, "--log-level", "warn")
	if err != nil {
		return err
	}
	b.procs = append(b.procs, gw)
	mgr, err := localrun.Start(b.dir, "manager", b.bins.Manager, "--kubeconfig", kubeconfig,
		"--notify-bind-address", callbackAddr, "--metrics-bind-address", metricsAddr,
		"--health-probe-bind-address", probeAddr, "--pprof-bind-address", pprofAddr,
		"--max-concurrent-reconciles", strconv.Itoa(b.conc), "--kube-api-qps", "2000", "--kube-api-burst", "4000",
		// The bench is one source posting as fast as kubepay answers; the per-source abuse limit
		// is policy, not capacity, so it is lifted to measure the ingest path itself.
		"--notify-rate-limit", "1000000", "--notify-rate-burst", "1000000")
	if err != nil {
		return err
	}
	b.procs = append(b.procs, mgr)
	for _, w := range []struct {
		p   *localrun.Proc
		url string
	}{{gw, "http://" + gatewayAddr + "/healthz"}, {mgr, "http://" + callbackAddr + "/healthz"}, {mgr, "http://" + probeAddr + "/readyz"}} {
		if err := localrun.WaitHTTP(ctx, w.p, w.url, time.Minute); err != nil {
			return err
		}
	}
	pub, err := httpGet("http://" + gatewayAddr + "/v1/public-key")
	if err != nil {
		return err
	}
	c := b.env.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}); err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: "sandbox", Labels: map[string]string{"kubepay.io/credentials": "true"}},
		Data:       map[string][]byte{"apiKey": []byte(benchAPIKey), "publicKey": pub},
	}); err != nil {
		return err
	}
	// Queries would add provider calls the benchmark does not measure: push them past the run.
	return c.Create(ctx, &v1.PaymentProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: "sandbox"},
		Spec: v1.PaymentProviderSpec{
			Type: v1.ProviderSandbox, Endpoint: "http://" + gatewayAddr,
			CredentialsSecretRef: v1.LocalObjectReference{Name: "sandbox"},
			CallbackBaseURL:      "http://" + callbackAddr,
			Query:                &v1.QuerySettings{InitialInterval: &metav1.Duration{Duration: time.Hour}},
		},
	})
}

func httpGet(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}
