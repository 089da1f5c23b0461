package stripe_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestMain runs the tests, then stops what they started on demand: stripe-mock and the control
// plane with its manager (each started once, by the first test that needs it).
func TestMain(m *testing.M) {
	code := m.Run()
	stopCluster()
	stopStripeMock()
	os.Exit(code)
}

// repoRoot is the module root, found from this file's location.
func repoRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("runtime.Caller failed")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// vectorDir is the genuine Stripe vector, in shared/ beside the repository (as CI clones it).
func vectorDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(repoRoot(), "..", "shared", "vectors", "stripe")
	if _, err := os.Stat(filepath.Join(dir, "body.json")); err != nil {
		t.Fatalf("the genuine Stripe webhook vector is missing: %v (expected shared/vectors/stripe beside the repository, at %s)", err, dir)
	}
	return dir
}

func readFile(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(fmt.Errorf("reading %s: %w", name, err))
	}
	return b
}
