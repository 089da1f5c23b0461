// Package testvectors finds the providers' genuine vectors beside the checkout for their tests.
// It is apart from providertest because in-package tests use it, and providertest brings in
// the manager, which imports the provider packages.
package testvectors

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Vectors are one provider's genuine vectors in shared/vectors/<Provider> beside the repository
// checkout, read from there byte for byte and never copied into the repository.
type Vectors struct {
	// Provider is the directory name; Display names the provider in failures.
	Provider, Display string
}

// Dir is the vectors' directory. Its absence is a failure, not a skip: the vectors are the only
// proof that an implementation matches the provider's.
func (v Vectors) Dir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	repoRoot := filepath.Join(filepath.Dir(file), "..", "..", "..")
	dir := filepath.Join(repoRoot, "..", "shared", "vectors", v.Provider)
	if _, err := os.Stat(filepath.Join(dir, "SOURCE.md")); err != nil {
		t.Fatalf("genuine %s vectors not found at %s (shared/ must be checked out beside the repository): %v", v.Display, dir, err)
	}
	return dir
}

// Read returns the vector file at parts below Dir.
func (v Vectors) Read(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{v.Dir(t)}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
