package testfixture

import (
	"fmt"
	"os"
	"testing"

	"github.com/kubepay/kubepay/internal/testenv"
)

// RunSuite is a TestMain body for suites that share one control plane and one manager: it
// starts both, lets setup (may be nil) add what the suite needs, runs the tests and stops
// everything, setup's own stop (when it returns one) first. The returned code goes to os.Exit.
func RunSuite(m *testing.M, faults *Faults, setup func(*testenv.Env, *Manager) (stop func(), err error)) int {
	env, err := testenv.StartE()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.Env.Stop()
	mgr, err := StartManager(env, faults, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer mgr.Stop()
	if setup != nil {
		stop, err := setup(env, mgr)
		if stop != nil {
			defer stop()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}
