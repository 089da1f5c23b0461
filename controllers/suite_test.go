package controllers_test

import (
	"fmt"
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
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	e, err := testenv.StartE()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer e.Env.Stop()
	env = e
	mgr, err := testfixture.StartManager(e, faults, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer mgr.Stop()
	return m.Run()
}

// freePort returns a loopback address nothing listens on (yet).
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
