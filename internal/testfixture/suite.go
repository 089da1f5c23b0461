package testfixture

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/kubepay/kubepay/internal/testenv"
)

// RunSuite is a TestMain body for suites that share one control plane and one manager: it
// starts both, lets setup (may be nil) add what the suite needs, runs the tests and stops
// everything, setup's own stop (when it returns one) first. The returned code goes to os.Exit.
//
// Under -short nothing is started and the tests run without a control plane: unit tests pass as
// usual and those on the control plane skip (testenv.Env.Namespace on the nil Env).
func RunSuite(m *testing.M, faults *Faults, setup func(*testenv.Env, *Manager) (stop func(), err error)) int {
	if Short() {
		return m.Run()
	}
	env, err := testenv.StartE()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}()
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

// Short parses the test flags (TestMain runs before they are) and reports -short, saying on stderr
// that the suite's control-plane tests will skip.
func Short() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	if testing.Short() {
		fmt.Fprintln(os.Stderr, testenv.ShortSkip)
		return true
	}
	return false
}
