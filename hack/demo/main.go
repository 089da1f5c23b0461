// Command demo plays kubepay's story end to end on loopback: a local control plane (or an
// existing cluster), the sandbox gateway and the kubepay manager as processes, config/samples
// applied, and a payment taken, duplicated, forged, refunded in two parts (and refused a third),
// another expired and then paid late and refunded by kubepay itself, each step printed and checked.
//
// `make demo` runs it. DEMO_EXIT=1 exits after the story (status 0 only if every step happened
// as printed); otherwise everything keeps running until Ctrl-C, which stops and cleans up.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kubepay/kubepay/internal/localrun"
)

const (
	demoNamespace = "kubepay-demo"
	gatewayAddr   = "127.0.0.1:8090"
	callbackAddr  = "127.0.0.1:8082"
	apiKey        = "sk_sandbox_demo"
	// gatewayRefundDelay is how long the gateway keeps a refund pending before it succeeds.
	gatewayRefundDelay = 500 * time.Millisecond
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{root: localrun.RepoRoot()}
	err := d.run(ctx)
	d.cleanup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "\n✗ demo failed: %v\n", err)
		if d.dir != "" {
			fmt.Fprintf(os.Stderr, "  logs: %s\n", d.dir)
		}
		os.Exit(1)
	}
}

type demo struct {
	root, dir     string
	mgrBin, gwBin string
	env           *envtest.Environment
	kc            kubectl
	procs         []*localrun.Proc
	gatewayURL    string
	callbackURL   string
	// refunds are the PaymentRefunds the story made and how each ended, for the final table.
	refunds []demoRefund
}

func step(format string, a ...any) { fmt.Printf("\n▶ "+format+"\n", a...) }
func info(format string, a ...any) { fmt.Printf("  "+format+"\n", a...) }

func (d *demo) run(ctx context.Context) error {
	d.dir = filepath.Join(d.root, "bin", "demo")
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	step("Building what the demo needs (reused on later runs)")
	assets, err := d.build()
	if err != nil {
		return err
	}
	if err := d.startCluster(assets); err != nil {
		return err
	}
	if err := d.startProcesses(ctx); err != nil {
		return err
	}
	if err := d.applySamples(); err != nil {
		return err
	}
	if err := d.story(ctx); err != nil {
		return err
	}
	fmt.Println("\n✓ Every step happened as printed.")
	if os.Getenv("DEMO_EXIT") == "1" {
		return nil
	}
	fmt.Printf("\nkubepay keeps running for you to explore:\n")
	fmt.Printf("  export KUBECONFIG=%s\n", d.kc.kubeconfig)
	fmt.Printf("  %s get paymentorders,paymentrefunds -n %s -o wide\n", d.kc.bin, demoNamespace)
	fmt.Printf("  gateway %s (stats at %s/v1/stats), logs in %s\n", d.gatewayURL, d.gatewayURL, d.dir)
	fmt.Printf("Press Ctrl-C to stop and clean up.\n")
	<-ctx.Done()
	fmt.Println("\nStopping…")
	return nil
}

// build makes the control-plane binaries (hack/), the manager and the gateway.
func (d *demo) build() (string, error) {
	b, err := localrun.Build(d.root, os.Stdout)
	if err != nil {
		return "", err
	}
	d.mgrBin, d.gwBin = b.Manager, b.Gateway
	d.kc = kubectl{bin: b.Kubectl, kubeconfig: filepath.Join(d.dir, "kubeconfig")}
	return b.Assets, nil
}

// startCluster starts kube-apiserver + etcd on loopback, or uses $KUBECONFIG when
// DEMO_CLUSTER=existing, and installs the CRDs.
func (d *demo) startCluster(assets string) error {
	if os.Getenv("DEMO_CLUSTER") == "existing" {
		kc := os.Getenv("KUBECONFIG")
		step("Using the existing cluster in KUBECONFIG=%s", kc)
		raw, err := os.ReadFile(kc)
		if err != nil {
			return fmt.Errorf("DEMO_CLUSTER=existing needs a readable KUBECONFIG: %w", err)
		}
		if err := os.WriteFile(d.kc.kubeconfig, raw, 0o600); err != nil {
			return err
		}
		if _, err := d.kc.run("", "version"); err != nil {
			return fmt.Errorf("the cluster in KUBECONFIG is not reachable: %w", err)
		}
		if _, err := d.kc.run("", "apply", "-k", filepath.Join(d.root, "config", "crd")); err != nil {
			return err
		}
	} else {
		step("Starting a local control plane (kube-apiserver + etcd on loopback)")
		d.env = &envtest.Environment{
			BinaryAssetsDirectory: assets,
			CRDDirectoryPaths:     []string{filepath.Join(d.root, "config", "crd", "bases")},
			ErrorIfCRDPathMissing: true,
		}
		if _, err := d.env.Start(); err != nil {
			return fmt.Errorf("starting the control plane: %w", err)
		}
		user, err := d.env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
		if err != nil {
			return err
		}
		raw, err := user.KubeConfig()
		if err != nil {
			return err
		}
		if err := os.WriteFile(d.kc.kubeconfig, raw, 0o600); err != nil {
			return err
		}
		info("API server %s; CRDs installed", d.env.ControlPlane.APIServer.SecureServing.ListenAddr.HostPort())
	}
	info("kubeconfig written to %s; use it with:", d.kc.kubeconfig)
	info("  KUBECONFIG=%s %s get paymentorders -A", d.kc.kubeconfig, d.kc.bin)
	return nil
}

// startProcesses runs the sandbox gateway and the manager (controller + callback server).
func (d *demo) startProcesses(ctx context.Context) error {
	step("Starting the sandbox gateway and the kubepay manager (logs in %s)", d.dir)
	pub := filepath.Join(d.dir, "gateway-public-key.pem")
	_ = os.Remove(pub)
	// Refunds stay pending half a second: long enough to be seen Processing, short enough that
	// the refund steps cost CI little.
	gw, err := localrun.Start(d.dir, "sandbox-gateway", d.gwBin,
		"--bind-address", gatewayAddr, "--api-key", apiKey, "--public-key-out", pub, "--time-scale", "0.01",
		"--refund-delay", gatewayRefundDelay.String())
	if err != nil {
		return err
	}
	d.procs = append(d.procs, gw)
	mgr, err := localrun.Start(d.dir, "manager", d.mgrBin,
		"--kubeconfig", d.kc.kubeconfig, "--notify-bind-address", callbackAddr,
		"--metrics-bind-address", "127.0.0.1:8080", "--health-probe-bind-address", "127.0.0.1:8081")
	if err != nil {
		return err
	}
	d.procs = append(d.procs, mgr)
	d.gatewayURL, d.callbackURL = "http://"+gatewayAddr, "http://"+callbackAddr
	for _, w := range []struct {
		p   *localrun.Proc
		url string
	}{{gw, d.gatewayURL + "/healthz"}, {mgr, d.callbackURL + "/healthz"}, {mgr, "http://127.0.0.1:8081/readyz"}} {
		if err := localrun.WaitHTTP(ctx, w.p, w.url, 60*time.Second); err != nil {
			return err
		}
	}
	info("gateway   %s", d.gatewayURL)
	info("callbacks %s/notify/<namespace>/<provider>", d.callbackURL)
	return nil
}

// applySamples applies config/samples and gives the Secret the gateway's public key.
func (d *demo) applySamples() error {
	step("Applying config/samples/ (a sandbox PaymentProvider, its Secret, two orders)")
	if _, err := d.kc.run("", "create", "namespace", demoNamespace); err != nil && !strings.Contains(err.Error(), "AlreadyExists") {
		return err
	}
	out, err := d.kc.run("", "apply", "-n", demoNamespace, "-k", filepath.Join(d.root, "config", "samples"))
	if err != nil {
		return err
	}
	fmt.Print(indent(out))
	pub, err := os.ReadFile(filepath.Join(d.dir, "gateway-public-key.pem"))
	if err != nil {
		return fmt.Errorf("reading the gateway's public key: %w", err)
	}
	patch := fmt.Sprintf(`{"stringData":{"publicKey":%q}}`, string(pub))
	if _, err := d.kc.run("", "patch", "secret", "sandbox-credentials", "-n", demoNamespace, "--type", "merge", "-p", patch); err != nil {
		return err
	}
	info("secret/sandbox-credentials now holds the gateway's notification public key")
	return nil
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

func (d *demo) cleanup() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		d.procs[i].Stop()
	}
	if d.env != nil {
		_ = d.env.Stop()
	}
}
