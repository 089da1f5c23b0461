package stripe_test

import (
	"sync"
	"testing"

	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
)

// cluster is a control plane with the kubepay manager and its callback server (the code that
// ships, stripe provider registered by internal/manager), started by the first test needing it.
var cluster struct {
	once sync.Once
	env  *testenv.Env
	mgr  *testfixture.Manager
	err  error
}

func startCluster(t testing.TB) (*testenv.Env, *testfixture.Manager) {
	t.Helper()
	testenv.SkipIfShort(t)
	cluster.once.Do(func() {
		cluster.env, cluster.err = testenv.StartE()
		if cluster.err != nil {
			return
		}
		cluster.mgr, cluster.err = testfixture.StartManager(cluster.env, nil, nil)
	})
	if cluster.err != nil {
		t.Fatalf("starting the control plane and manager: %v", cluster.err)
	}
	return cluster.env, cluster.mgr
}

func stopCluster() {
	if cluster.mgr != nil {
		cluster.mgr.Stop()
	}
	if cluster.env != nil {
		_ = cluster.env.Env.Stop()
	}
}
