// Package manifests checks that generated files are committed up to date: a marker changed without
// `make manifests generate` would ship a CRD that does not match the Go types.
package manifests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kubepay/kubepay/internal/testenv"
)

func TestGeneratedFilesAreCurrent(t *testing.T) {
	root := testenv.RepoRoot()
	out := t.TempDir()
	crdDir, rbacDir, apiDir := filepath.Join(out, "crd"), filepath.Join(out, "rbac"), out
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command("go", append([]string{"tool", "controller-gen"}, args...)...)
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("controller-gen %v: %v\n%s", args, err, stderr.Bytes())
		}
		return b
	}
	// The same generator invocations as the Makefile's manifests and generate targets.
	run("rbac:roleName=manager-role", "crd", "paths=./api/...", "paths=./controllers/...", "paths=./webhook/...",
		"output:crd:artifacts:config="+crdDir, "output:rbac:artifacts:config="+rbacDir)
	deepcopy := run("object:headerFile=hack/boilerplate.go.txt", "paths=./api/...", "output:object:stdout")
	if err := os.WriteFile(filepath.Join(apiDir, "zz_generated.deepcopy.go"), deepcopy, 0o644); err != nil {
		t.Fatal(err)
	}

	compareDir(t, crdDir, filepath.Join(root, "config", "crd", "bases"))
	compare(t, filepath.Join(rbacDir, "role.yaml"), filepath.Join(root, "config", "rbac", "role.yaml"))
	compare(t, filepath.Join(apiDir, "zz_generated.deepcopy.go"), filepath.Join(root, "api", "v1alpha1", "zz_generated.deepcopy.go"))
}

func compareDir(t *testing.T, fresh, committed string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fresh, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("controller-gen wrote no CRDs to %s: %v", fresh, err)
	}
	for _, f := range files {
		compare(t, f, filepath.Join(committed, filepath.Base(f)))
	}
}

func compare(t *testing.T, fresh, committed string) {
	t.Helper()
	want, err := os.ReadFile(fresh)
	if err != nil {
		t.Fatalf("reading generated %s: %v", fresh, err)
	}
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Fatalf("%s is not committed (run `make manifests generate`): %v", committed, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run `make manifests generate` and commit the result", committed)
	}
}
