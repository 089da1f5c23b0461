package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/localrun"
	"github.com/kubepay/kubepay/internal/testenv"
)

const (
	soakNamespace = "soak"
	// leaseNamespace holds the managers' leader-election Lease, as kubepay-system would in a cluster.
	leaseNamespace = "kubepay-system"
	providerName   = "sandbox"
	soakAPIKey     = "sk_soak"
	// leaseName is the manager's default LeaderElectionID.
	leaseName = "kubepay-controller.kubepay.io"
	// gatewayRefundDelay is how long the gateway keeps a refund pending before it succeeds.
	gatewayRefundDelay = 2 * time.Second
)

// addresses are chosen once so that every restart comes back where its peers expect it.
type addresses struct {
	gateway, proxy  string
	notify, metrics [2]string
	probe           [2]string
}

func (a addresses) gatewayURL() string { return "http://" + a.gateway }

// setUp builds and starts everything the traffic needs, and creates the provider.
func (s *soak) setUp(ctx context.Context) error {
	var err error
	if s.bins, err = localrun.Build(s.root, os.Stdout); err != nil {
		return err
	}
	free, err := localrun.FreeAddrs(8)
	if err != nil {
		return err
	}
	s.addr = addresses{gateway: free[0], proxy: free[1], notify: [2]string{free[2], free[3]},
		metrics: [2]string{free[4], free[5]}, probe: [2]string{free[6], free[7]}}
	if err := os.Setenv("KUBEBUILDER_ASSETS", s.bins.Assets); err != nil {
		return err
	}
	if s.env, err = testenv.StartE(); err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	fmt.Printf("  control plane up at %s\n", s.env.Config.Host)
	kubeconfig, err := s.writeKubeconfig()
	if err != nil {
		return err
	}
	for _, ns := range []string{soakNamespace, leaseNamespace} {
		if err := s.env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}

	// Full chaos. --time-scale 0.002 turns Alipay's 4m,10m,10m,1h,... into 0.48s,1.2s,1.2s,7.2s,...
	// so retries happen within the run; the state file carries payments, refunds, pending
	// deliveries and settlements and the signing key across the gateway's restart. Refunds stay
	// pending for gatewayRefundDelay, so some are in flight whenever a process is killed.
	s.gateway = &service{name: "sandbox-gateway", bin: s.bins.Gateway, args: []string{
		"--bind-address", s.addr.gateway, "--api-key", soakAPIKey,
		"--state-file", filepath.Join(s.dir, "gateway-state.json"), "--time-scale", "0.002",
		"--refund-delay", gatewayRefundDelay.String(),
		"--duplicates", "3", "--drop-first", "2", "--drop-ratio", "0.33", "--reorder", "--delay", "50ms",
		"--seed", fmt.Sprint(s.cfg.seed),
	}, ready: []string{s.addr.gatewayURL() + "/healthz"}}
	if err := s.gateway.start(ctx, s.dir); err != nil {
		return err
	}
	for i := range s.managers {
		s.managers[i] = &service{name: fmt.Sprintf("manager-%c", 'a'+i), bin: s.bins.Manager, args: []string{
			"--kubeconfig", kubeconfig, "--leader-elect", "--leader-election-namespace", leaseNamespace,
			"--notify-bind-address", s.addr.notify[i], "--metrics-bind-address", s.addr.metrics[i],
			"--health-probe-bind-address", s.addr.probe[i],
		}, ready: []string{"http://" + s.addr.notify[i] + "/healthz", "http://" + s.addr.probe[i] + "/readyz"}}
		if err := s.managers[i].start(ctx, s.dir); err != nil {
			return err
		}
	}
	proxyLog, err := os.Create(filepath.Join(s.dir, "proxy.log"))
	if err != nil {
		return err
	}
	if s.proxy, err = startProxy(s.addr.proxy, s.addr.notify[:], proxyLog); err != nil {
		return err
	}
	fmt.Printf("  gateway %s, managers' callbacks %s and %s behind proxy %s; logs in %s\n",
		s.addr.gatewayURL(), s.addr.notify[0], s.addr.notify[1], s.addr.proxy, s.dir)
	return s.createProvider(ctx)
}

func (s *soak) writeKubeconfig() (string, error) {
	user, err := s.env.Admin("soak")
	if err != nil {
		return "", err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(s.dir, "kubeconfig")
	return path, os.WriteFile(path, kc, 0o600)
}

// createProvider creates the Secret and the PaymentProvider and waits until the leader reports
// it Ready: from then on orders can be paid. Queries start 2s after a payment is created and
// back off to 10s, so the query fallback takes part alongside notifications.
func (s *soak) createProvider(ctx context.Context) error {
	pub, err := localrun.Get(s.addr.gatewayURL() + "/v1/public-key")
	if err != nil {
		return err
	}
	c := s.env.Client
	if err := c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: soakNamespace, Name: providerName, Labels: map[string]string{"kubepay.io/credentials": "true"}},
		Data:       map[string][]byte{"apiKey": []byte(soakAPIKey), "publicKey": pub},
	}); err != nil {
		return err
	}
	if err := c.Create(ctx, &v1.PaymentProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: soakNamespace, Name: providerName},
		Spec: v1.PaymentProviderSpec{
			Type: v1.ProviderSandbox, Endpoint: s.addr.gatewayURL(),
			CredentialsSecretRef: v1.LocalObjectReference{Name: providerName},
			CallbackBaseURL:      "http://" + s.addr.proxy,
			Query: &v1.QuerySettings{InitialInterval: &metav1.Duration{Duration: 2 * time.Second},
				MaxInterval: &metav1.Duration{Duration: 10 * time.Second}},
		},
	}); err != nil {
		return err
	}
	// Leader election takes a few seconds on a fresh Lease.
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		pp := &v1.PaymentProvider{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: soakNamespace, Name: providerName}, pp); err != nil {
			return err
		}
		for _, cond := range pp.Status.Conditions {
			if cond.Type == v1.ConditionReady && cond.Status == metav1.ConditionTrue {
				fmt.Printf("  PaymentProvider Ready, notifyURL %s\n", pp.Status.NotifyURL)
				return nil
			}
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("the PaymentProvider did not become Ready within 90s (is a manager leading? see %s)", s.dir)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
