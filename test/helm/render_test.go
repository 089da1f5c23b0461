// Package helm tests charts/kubepay: lint, a server-side dry run of what it renders on a real API
// server, parity with config/default, and that it carries the CRDs and RBAC rules `make manifests`
// generates. helm is the pinned one in hack/tools (go tool -modfile=hack/tools/go.mod helm); its
// first build takes minutes, so every test that runs it skips under -short.
package helm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/kubepay/kubepay/internal/testenv"
)

const (
	// release is the release name whose resource names equal config/default's (namePrefix kubepay-).
	release = "kubepay"
	// namespace is config/default's namespace.
	namespace = "kubepay-system"
)

func chartDir() string { return filepath.Join(testenv.RepoRoot(), "charts", "kubepay") }

func allOnValues() string {
	return filepath.Join(testenv.RepoRoot(), "test", "helm", "testdata", "values-all-on.yaml")
}

// runHelm runs the pinned helm from the repository root, with its configuration, cache and data
// in a temporary directory so no user's repositories or plugins take part.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	testenv.SkipIfShort(t)
	home := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "go", append([]string{"tool", "-modfile=hack/tools/go.mod", "helm"}, args...)...)
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String(), nil
}

// render is `helm template kubepay charts/kubepay -n kubepay-system --include-crds` plus args.
func render(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runHelm(t, append([]string{"template", release, "charts/kubepay", "--namespace", namespace, "--include-crds"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// objects splits a multi-document manifest into its objects, skipping empty documents.
func objects(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("reading rendered manifests: %v\n%s", err, manifest)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// key names an object as Kind/namespace/name (namespace empty for cluster-scoped kinds).
func key(o *unstructured.Unstructured) string {
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}

func keys(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	m := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		m[key(o)] = o
	}
	return m
}

// find returns the only object of kind, failing the test if there is not exactly one.
func find(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("rendered %d objects of kind %s, want 1", len(found), kind)
	}
	return found[0]
}

// findNamed returns the object of kind and name, or nil.
func findNamed(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func kinds(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// typed converts a rendered object into its Go type (Deployment, Service, ...).
func typed[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &v); err != nil {
		t.Fatalf("reading %s: %v", key(o), err)
	}
	return &v
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
