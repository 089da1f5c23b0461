// Command manager runs kubepay: the PaymentOrder controller (leader only) and the notification
// callback server (every replica).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kubepay/kubepay/internal/manager"
	"github.com/kubepay/kubepay/internal/metrics/serving"
	"github.com/kubepay/kubepay/webhook"
)

func main() {
	var opts manager.Options
	var metricsFlags serving.Flags
	flag.StringVar(&opts.MetricsBindAddress, "metrics-bind-address", ":8080", "Address the Prometheus metrics endpoint binds to; \"0\" disables it.")
	flag.BoolVar(&metricsFlags.Secure, "metrics-secure", false, "Serve metrics over HTTPS to callers whose token may get /metrics (TokenReview and SubjectAccessReview: needs the metrics-auth RBAC; grant scrapers metrics-reader).")
	flag.StringVar(&metricsFlags.CertDir, "metrics-cert-dir", "", "Directory with tls.crt and tls.key for --metrics-secure (reloaded on change); empty or without them: a self-signed certificate.")
	flag.StringVar(&opts.ProbeBindAddress, "health-probe-bind-address", ":8081", "Address the liveness and readiness probes bind to.")
	flag.StringVar(&opts.PprofBindAddress, "pprof-bind-address", "", "Address to serve net/http/pprof on (empty: off). Keep it on loopback.")
	flag.BoolVar(&opts.LeaderElection, "leader-elect", false, "Elect a leader so only one replica runs the controller; every replica serves callbacks.")
	flag.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader-election Lease (default: the pod's namespace).")
	leaseDuration := flag.Duration("leader-election-lease-duration", 15*time.Second, "How long a crashed leader's lease blocks the next leader: creates and expiries wait this long after a crash.")
	renewDeadline := flag.Duration("leader-election-renew-deadline", 10*time.Second, "How long the leader keeps trying to renew before it gives up leadership (less than the lease duration).")
	retryPeriod := flag.Duration("leader-election-retry-period", 2*time.Second, "How often candidates try to acquire or renew the lease.")
	flag.StringVar(&opts.NotifyBindAddress, "notify-bind-address", ":8082", "Address the notification callback server binds to.")
	flag.StringVar(&opts.ClusterNamespace, "cluster-provider-namespace", manager.DefaultClusterNamespace(), "Namespace of the Secrets (and out_trade_no claims) of ClusterPaymentProviders: the manager's own.")
	watchNamespaces := flag.String("watch-namespaces", "", "Comma-separated namespaces this install serves (empty: all). Several installs split a cluster by namespace; each answers only its namespaces' notifications.")
	watchSelector := flag.String("watch-label-selector", "", "Label selector on PaymentOrders, PaymentRefunds and PaymentProviders this install serves (empty: all), e.g. kubepay.io/shard=a.")
	flag.StringVar(&opts.NotifyCertDir, "notify-cert-dir", "", "Directory with tls.crt and tls.key; when set the callback server serves HTTPS.")
	flag.Float64Var(&opts.NotifyRateLimit, "notify-rate-limit", webhook.DefaultRateLimit, "Failed callback requests (failing signature verification, or failing before it) per second per source (IPv4 address or IPv6 /64) that get the provider's failure answer and a log line; beyond it they are answered 429 and logged in aggregate. Requests that verify are never limited.")
	flag.IntVar(&opts.NotifyRateBurst, "notify-rate-burst", webhook.DefaultRateBurst, "Burst of failed callback requests per source before --notify-rate-limit applies.")
	flag.BoolVar(&metricsFlags.EnableHTTP2, "enable-http2", false, "Enable HTTP/2 on the metrics server (off by default: CVE-2023-44487 rapid reset).")
	flag.IntVar(&opts.MaxConcurrentReconciles, "max-concurrent-reconciles", 8, "PaymentOrders reconciled in parallel.")
	transitionEvents := flag.Bool("transition-events", true, "Emit a Normal Event for every phase transition (status.history records them anyway). Off saves one API write per create and per notification; Warnings are always emitted.")
	flag.Float64Var(&opts.KubeQPS, "kube-api-qps", 200, "Client-side QPS limit towards the API server.")
	flag.IntVar(&opts.KubeBurst, "kube-api-burst", 400, "Client-side burst towards the API server.")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	share, err := parseShare(*watchNamespaces, *watchSelector)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	opts.Share = share
	opts.NoTransitionEvents = !*transitionEvents
	opts.LeaseDuration, opts.RenewDeadline, opts.RetryPeriod = leaseDuration, renewDeadline, retryPeriod
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	metricsFlags.BindAddress = opts.MetricsBindAddress
	opts.Metrics = serving.Options(metricsFlags)

	cfg := ctrl.GetConfigOrDie()
	if err := manager.CheckServerVersionForConfig(cfg); err != nil {
		log.Error(err, "checking the Kubernetes version")
		os.Exit(1)
	}
	mgr, err := manager.New(cfg, opts)
	if err != nil {
		log.Error(err, "unable to set up manager")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "unable to set up ready check")
		os.Exit(1)
	}
	log.Info("starting manager")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "problem running manager")
		os.Exit(1)
	}
}
