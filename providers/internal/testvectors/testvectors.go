// Package testvectors reads the providers' genuine vectors, kept in the repository under
// testdata/vectors, for their tests. It is apart from providertest because in-package tests use
// it, and providertest brings in the manager, which imports the provider packages.
package testvectors

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// manifestName is the file under Root listing every vector file with its SHA-256.
const manifestName = "SHA256SUMS"

// notes are the files under Root written for this repository rather than copied: they are not
// vectors and the manifest does not list them.
var notes = map[string]bool{"README.md": true, "NOTICE.md": true, manifestName: true, ".gitattributes": true}

// repoRoot is found from this file's path, so every package's tests read the same files
// whatever their working directory.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Root is testdata/vectors in the repository.
func Root() string { return filepath.Join(repoRoot(), "testdata", "vectors") }

// Vectors are one provider's genuine vectors in testdata/vectors/<Provider>, read byte for byte.
type Vectors struct {
	// Provider is the directory name; Display names the provider in failures.
	Provider, Display string
}

// Dir is the vectors' directory. Its absence is a failure, not a skip: the vectors are the only
// proof that an implementation matches the provider's.
func (v Vectors) Dir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(Root(), v.Provider)
	if _, err := os.Stat(filepath.Join(dir, "SOURCE.md")); err != nil {
		t.Fatalf("genuine %s vectors not found at %s (they are part of the repository; is the checkout complete?): %v", v.Display, dir, err)
	}
	return dir
}

// Read returns the vector file at parts below Dir, after checking it against the manifest: a
// vector whose bytes changed would make a provider's test fail for a reason that test cannot name.
func (v Vectors) Read(t testing.TB, parts ...string) []byte {
	t.Helper()
	path := filepath.Join(append([]string{v.Dir(t)}, parts...)...)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading genuine %s vector: %v", v.Display, err)
	}
	m, err := manifest()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.check(v.Provider+"/"+strings.Join(parts, "/"), b); err != nil {
		t.Fatal(err)
	}
	return b
}

// sums maps a slash-separated path below Root to its expected SHA-256, hex encoded.
type sums map[string]string

func (m sums) check(name string, b []byte) error {
	want, ok := m[name]
	if !ok {
		return fmt.Errorf("vector %s is not listed in %s: add it with its SHA-256 when adding the file", name, filepath.Join(Root(), manifestName))
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("vector %s has SHA-256 %s, %s lists %s: the file changed (line endings? a trailing newline?) and no longer is the provider's bytes", name, got, manifestName, want)
	}
	return nil
}

// manifest reads SHA256SUMS (the format sha256sum writes and `sha256sum -c` checks) once.
var manifest = sync.OnceValues(func() (sums, error) {
	path := filepath.Join(Root(), manifestName)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vector manifest: %w", err)
	}
	m := sums{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != sha256.Size*2 || name == "" {
			return nil, fmt.Errorf("%s line %d is %q, want \"<sha256>  <path>\"", path, n, sc.Text())
		}
		m[name] = sum
	}
	return m, sc.Err()
})
