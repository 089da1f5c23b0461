package controllers_test

import (
	"net"
	"os"
	"testing"

	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
)

// One control plane and one manager serve every test; each test works in its own namespace with
// its own sandbox gateway, so tests cannot see each other's orders or payments.
var (
	env    *testenv.Env
	faults = &testfixture.Faults{}
	// suiteManager is the manager every test shares; its callback server receives notifications.
	suiteManager *testfixture.Manager
)

func TestMain(m *testing.M) {
	os.Exit(testfixture.RunSuite(m, faults, func(e *testenv.Env, mgr *testfixture.Manager) (func(), error) {
		env, suiteManager = e, mgr
		return nil, nil
	}))
}

// freePort returns a loopback address nothing listens on (yet).
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
