// Package manager assembles the controller-runtime manager kubepay runs: the scheme, the cache
// (managed fields stripped, credential Secrets restricted by label), the PaymentOrder controller and
// the callback server. cmd/manager, the e2e tests and the benchmark all start it through New, so
// what is tested is what ships.
package manager

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/controllers"
	"github.com/kubepay/kubepay/internal/index"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/scheme"
	"github.com/kubepay/kubepay/internal/shard"
	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/webhook"
	// Provider implementations register themselves with the providers registry.
	_ "github.com/kubepay/kubepay/providers/sandbox"
)

// Options configures New.
type Options struct {
	// ClusterNamespace is the manager's namespace: ClusterPaymentProviders' credentials Secrets and
	// their claims live there. Empty means DefaultClusterNamespace().
	ClusterNamespace string
	// HousekeepingInterval is how often retention and the claim sweep run (0: the default).
	HousekeepingInterval time.Duration
	// NoTransitionEvents drops the Normal Event of each transition (status.history keeps them),
	// saving one API write per create and per notification. Warnings stay.
	NoTransitionEvents bool
	// SecondInProcess allows a second manager in the same process (tests of several installs).
	SecondInProcess bool
	// Share restricts the install to some namespaces and kubepay objects (zero: the whole
	// cluster), so several installs can split one cluster.
	Share              shard.Share
	MetricsBindAddress string
	Metrics            metricsserver.Options
	ProbeBindAddress   string
	// PprofBindAddress serves net/http/pprof when set (benchmarks read the heap through it).
	PprofBindAddress        string
	LeaderElection          bool
	LeaderElectionNamespace string
	// LeaseDuration, RenewDeadline and RetryPeriod tune leader election (nil: controller-runtime's
	// 15s/10s/2s). A crashed leader is replaced after about LeaseDuration.
	LeaseDuration, RenewDeadline, RetryPeriod *time.Duration
	// LeaderElectionID defaults to "kubepay-controller.kubepay.io".
	LeaderElectionID string
	// NotifyBindAddress is the callback server's address; "0" or "" runs no callback server.
	NotifyBindAddress string
	NotifyCertDir     string
	// NotifyRateLimit and NotifyRateBurst are the callback server's failure budget per source:
	// failed requests per second and burst before they are answered 429 (0: defaults). Requests
	// that verify never spend it (webhook.Server.RateLimit).
	NotifyRateLimit         float64
	NotifyRateBurst         int
	MaxConcurrentReconciles int
	KubeQPS                 float64
	KubeBurst               int
	// ProviderConfig, when set, adjusts every provider's Config (tests inject clocks, HTTP clients).
	ProviderConfig func(*providers.Config)
	// Now is the controller's clock; nil means time.Now.
	Now func() time.Time
	// WrapClient, when set, wraps the manager's client; fault-injection tests use it to fail
	// API writes at chosen moments.
	WrapClient func(client.Client) client.Client
}

// Manager is the controller-runtime manager with kubepay's components added.
type Manager struct {
	ctrl.Manager
	// Callback is the notification callback server; nil when NotifyBindAddress is "0".
	Callback *webhook.Server
	// Orders is the PaymentOrder reconciler, for tests that look at its memory.
	Orders *controllers.PaymentOrderReconciler
}

// New builds the manager with every kubepay component added.
func New(cfg *rest.Config, opts Options) (*Manager, error) {
	cfg, opts = withDefaults(cfg, opts)
	// Only labelled Secrets enter the cache, so the manager never holds the cluster's other Secrets.
	credentials := labels.SelectorFromSet(labels.Set{v1.LabelCredentials: "true"})
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme.New(),
		// Controller names are unique per process; tests that run two installs in one process
		// (the sharding test) lift that.
		Controller:              config.Controller{SkipNameValidation: ptr.To(opts.SecondInProcess)},
		Metrics:                 opts.Metrics,
		HealthProbeBindAddress:  opts.ProbeBindAddress,
		PprofBindAddress:        opts.PprofBindAddress,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        opts.LeaderElectionID,
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		// On a graceful stop the leader gives its lease up, so the other replica takes over at
		// once instead of waiting the lease out; safe because the process exits right after.
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 opts.LeaseDuration,
		RenewDeadline:                 opts.RenewDeadline,
		RetryPeriod:                   opts.RetryPeriod,
		NewClient: func(config *rest.Config, o client.Options) (client.Client, error) {
			c, err := client.New(config, o)
			if err != nil || opts.WrapClient == nil {
				return c, err
			}
			return opts.WrapClient(c), nil
		},
		Cache: cacheOptions(opts, credentials),
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := index.Setup(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return nil, fmt.Errorf("registering field indexes: %w", err)
	}
	res := &resolver.Resolver{Reader: mgr.GetClient(), Configure: opts.ProviderConfig, ClusterSecretNamespace: opts.ClusterNamespace}
	recorders, err := newEventRecorders(opts, mgr)
	if err != nil {
		return nil, err
	}
	recorder := recorders.For("kubepay-controller")
	orders := &controllers.PaymentOrderReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), ClusterNamespace: opts.ClusterNamespace, Resolver: res,
		Recorder: recorder, Now: opts.Now, MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
	}
	if err := orders.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up PaymentOrder controller: %w", err)
	}
	if err := (&controllers.PaymentRefundReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), ClusterNamespace: opts.ClusterNamespace, Resolver: res,
		Recorder: recorder, Now: opts.Now, MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up PaymentRefund controller: %w", err)
	}
	for _, cluster := range []bool{false, true} {
		if err := (&controllers.PaymentProviderReconciler{
			Client: mgr.GetClient(), Resolver: res, Recorder: recorder, Cluster: cluster, ClusterNamespace: opts.ClusterNamespace,
		}).SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("setting up provider controller (cluster %v): %w", cluster, err)
		}
	}
	if err := mgr.Add(&controllers.Housekeeper{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder, ClusterNamespace: opts.ClusterNamespace,
		Log: ctrl.Log.WithName("housekeeping"), Interval: opts.HousekeepingInterval, Now: opts.Now, Share: opts.Share,
	}); err != nil {
		return nil, fmt.Errorf("adding housekeeping: %w", err)
	}
	meta, err := metadata.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("building the metadata client: %w", err)
	}
	if err := mgr.Add(&controllers.SettledRelease{Metadata: meta, Share: opts.Share, Log: ctrl.Log.WithName("settled-release")}); err != nil {
		return nil, fmt.Errorf("adding settled-order release: %w", err)
	}
	if err := addStateMetrics(mgr, opts.Now); err != nil {
		return nil, err
	}
	m := &Manager{Manager: mgr, Orders: orders}
	if opts.NotifyBindAddress != "0" && opts.NotifyBindAddress != "" {
		m.Callback = &webhook.Server{
			Addr: opts.NotifyBindAddress, CertDir: opts.NotifyCertDir,
			RateLimit: opts.NotifyRateLimit, RateBurst: opts.NotifyRateBurst,
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Resolver: res, Share: opts.Share,
			Recorder: recorders.For("kubepay-callback"), Log: ctrl.Log.WithName("callback"),
		}
		if err := mgr.Add(m.Callback); err != nil {
			return nil, fmt.Errorf("adding callback server: %w", err)
		}
	}
	return m, nil
}

// withDefaults fills what opts leave empty, on a copy of cfg.
func withDefaults(cfg *rest.Config, opts Options) (*rest.Config, Options) {
	cfg = rest.CopyConfig(cfg)
	if opts.KubeQPS > 0 {
		cfg.QPS = float32(opts.KubeQPS)
	}
	if opts.KubeBurst > 0 {
		cfg.Burst = opts.KubeBurst
	}
	if opts.LeaderElectionID == "" {
		opts.LeaderElectionID = "kubepay-controller.kubepay.io"
	}
	if opts.Metrics.BindAddress == "" {
		opts.Metrics.BindAddress = opts.MetricsBindAddress
	}
	if opts.ClusterNamespace == "" {
		opts.ClusterNamespace = DefaultClusterNamespace()
	}
	return cfg, opts
}

// DefaultClusterNamespace is the namespace the manager runs in (POD_NAMESPACE, set by the
// Deployment from the downward API), else kubepay-system.
func DefaultClusterNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return "kubepay-system"
}
