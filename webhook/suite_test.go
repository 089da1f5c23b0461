package webhook_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/index"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/scheme"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/webhook"
)

var (
	env    *testenv.Env
	faults = &testfixture.Faults{}
	mgr    *testfixture.Manager
	// replicaURL is a second callback server with its own cache and client, as a second
	// manager replica would have.
	replicaURL string
)

func TestMain(m *testing.M) {
	os.Exit(testfixture.RunSuite(m, faults, func(e *testenv.Env, m *testfixture.Manager) (func(), error) {
		env, mgr = e, m
		ctx, cancel := context.WithCancel(context.Background())
		var err error
		replicaURL, err = startReplica(ctx, e)
		return cancel, err
	}))
}

// startReplica runs a callback server on its own cluster connection and cache.
func startReplica(ctx context.Context, e *testenv.Env) (string, error) {
	cl, err := cluster.New(e.Config, func(o *cluster.Options) {
		o.Scheme = scheme.New()
		o.Cache = cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: labels.SelectorFromSet(labels.Set{v1.LabelCredentials: "true"})},
		}}
	})
	if err != nil {
		return "", err
	}
	if err := index.Setup(ctx, cl.GetFieldIndexer()); err != nil {
		return "", err
	}
	go func() { _ = cl.Start(ctx) }()
	if !cl.GetCache().WaitForCacheSync(ctx) {
		return "", fmt.Errorf("replica cache did not sync")
	}
	srv := &webhook.Server{
		Addr: "127.0.0.1:0", Client: cl.GetClient(), APIReader: cl.GetAPIReader(),
		Resolver: &resolver.Resolver{Reader: cl.GetClient()},
		Recorder: cl.GetEventRecorder("kubepay-callback-replica"), Log: ctrl.Log.WithName("replica"),
	}
	go func() { _ = srv.Start(ctx) }()
	select {
	case addr := <-srv.Addresses():
		return "http://" + addr, nil
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("replica callback server did not listen")
	}
}
