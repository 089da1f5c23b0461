// Package testenv starts a real kube-apiserver + etcd (controller-runtime envtest) with kubepay's
// CRDs installed, for tests that must prove behaviour against the API server rather than a fake.
package testenv

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kubepay/kubepay/internal/scheme"
)

// K8sVersion is the control-plane version hack/build-control-plane.sh builds by default.
const K8sVersion = "1.37.2"

// Env is a running control plane.
type Env struct {
	Env    *envtest.Environment
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
}

// RepoRoot is the module root, found from this file's location so tests work from any package.
func RepoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir is KUBEBUILDER_ASSETS, or the directory hack/build-control-plane.sh fills.
func AssetsDir() (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d, nil
	}
	d := filepath.Join(RepoRoot(), "bin", "k8s", K8sVersion)
	if _, err := os.Stat(filepath.Join(d, "kube-apiserver")); err != nil {
		return "", fmt.Errorf("no control-plane binaries: KUBEBUILDER_ASSETS is unset and %s has no kube-apiserver; run `make test` or hack/build-control-plane.sh", d)
	}
	return d, nil
}

// ShortSkip is why tests on a control plane skip under -short: they need kube-apiserver and etcd,
// which `make test` builds and `go test -short` is meant to run without.
const ShortSkip = "envtest: needs kube-apiserver and etcd; skipped under -short (make test runs it)"

// SkipIfShort skips t under -short, with ShortSkip as the reason.
func SkipIfShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip(ShortSkip)
	}
}

// Start starts a control plane for the test and stops it when the test ends.
func Start(t testing.TB) *Env {
	t.Helper()
	SkipIfShort(t)
	e, err := StartE()
	if err != nil {
		t.Fatalf("starting envtest control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Env.Stop(); err != nil {
			t.Logf("stopping envtest: %v", err)
		}
	})
	return e
}

// StartE starts a control plane; the caller stops it (for TestMain users).
func StartE() (*Env, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, err
	}
	// The API server is the system under test's ceiling; client-side throttling would hide it.
	cfg.QPS, cfg.Burst = 1000, 2000
	s := scheme.New()
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{Env: env, Config: cfg, Client: c, Scheme: s}, nil
}

// Namespace creates a fresh namespace for one test so tests sharing a control plane never collide.
// A nil Env is a suite's TestMain that did not start one under -short: the test skips.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	if e == nil {
		SkipIfShort(t)
		t.Fatal("no control plane: the suite's TestMain did not start one")
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kubepay-test-"}}
	if err := e.Client.Create(t.Context(), ns); err != nil {
		t.Fatalf("creating test namespace: %v", err)
	}
	return ns.Name
}

// Admin adds a user of system:masters, for the kubeconfig or kubectl a cluster admin would use.
func (e *Env) Admin(name string) (*envtest.AuthenticatedUser, error) {
	user, err := e.Env.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("adding admin user %s: %w", name, err)
	}
	return user, nil
}

// Kubectl runs the kubectl built with the control plane, as one user (envtest's KubeCtl, whose
// type it does not export).
type Kubectl interface {
	Run(args ...string) (stdout, stderr io.Reader, err error)
}

// AdminKubectl is kubectl as an admin user called name.
func (e *Env) AdminKubectl(t testing.TB, name string) Kubectl {
	t.Helper()
	user, err := e.Admin(name)
	if err != nil {
		t.Fatal(err)
	}
	kubectl, err := user.Kubectl()
	if err != nil {
		t.Fatalf("kubectl for %s: %v", name, err)
	}
	return kubectl
}
