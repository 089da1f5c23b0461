// Package manager assembles the controller-runtime manager kubepay runs: the scheme, the cache
// (managed fields stripped, credential Secrets restricted by label), the PaymentOrder controller and
// the callback server. cmd/manager, the e2e tests and the benchmark all start it through New, so
// what is tested is what ships.
package manager

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubepay/kubepay/internal/scheme"
)

// CredentialsLabel marks the Secrets kubepay may read; only they enter the cache, so the manager
// never holds (or needs RBAC to list) the cluster's other Secrets.
const CredentialsLabel = "kubepay.io/credentials"

// Options configures New.
type Options struct {
	MetricsBindAddress      string
	Metrics                 metricsserver.Options
	ProbeBindAddress        string
	LeaderElection          bool
	LeaderElectionNamespace string
	// LeaderElectionID defaults to "kubepay-controller.kubepay.io".
	LeaderElectionID        string
	NotifyBindAddress       string
	NotifyCertDir           string
	MaxConcurrentReconciles int
	KubeQPS                 float64
	KubeBurst               int
}

// New builds the manager with every kubepay component added.
func New(cfg *rest.Config, opts Options) (ctrl.Manager, error) {
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
	credentials := labels.SelectorFromSet(labels.Set{CredentialsLabel: "true"})
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme.New(),
		Metrics:                 opts.Metrics,
		HealthProbeBindAddress:  opts.ProbeBindAddress,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        opts.LeaderElectionID,
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		// A new leader waits out the old lease rather than risk two controllers creating payments.
		LeaderElectionReleaseOnCancel: true,
		Cache: cache.Options{
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject: map[client.Object]cache.ByObject{
				&corev1.Secret{}: {Label: credentials},
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	return mgr, nil
}
