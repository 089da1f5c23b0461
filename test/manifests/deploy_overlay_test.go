package manifests

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubepay/kubepay/internal/testenv"
)

const defaultImage = "kubepay/manager:latest"

// TestDeployOverlaySetsTheImage renders the overlay that `make deploy` and `make build-installer`
// generate (hack/deploy-overlay.sh) with the kubectl hack/ builds, for several IMG forms, and
// checks that kustomize set the image and changed nothing else.
func TestDeployOverlaySetsTheImage(t *testing.T) {
	// It needs the kubectl hack/ builds with the control plane, which -short goes without.
	testenv.SkipIfShort(t)
	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	kubectl := filepath.Join(assets, "kubectl")
	base := run(t, kubectl, "kustomize", filepath.Join(testenv.RepoRoot(), "config", "default"))
	if !strings.Contains(base, "image: "+defaultImage) {
		t.Fatalf("config/default no longer renders image %s: the overlay's images entry (name kubepay/manager) would match nothing", defaultImage)
	}
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

	cases := []struct {
		img, want, reason string
	}{
		{"example.com/kubepay/manager:v1.2.3", "example.com/kubepay/manager:v1.2.3", "a registry and a release tag, the usual make deploy IMG"},
		{"registry.example.com:5000/kubepay/manager:v1.2.3", "registry.example.com:5000/kubepay/manager:v1.2.3", "a registry port must not be taken for the tag"},
		{"example.com/kubepay/manager@" + digest, "example.com/kubepay/manager@" + digest, "a digest pins exactly the image that was pushed"},
		{"example.com/kubepay/manager", "example.com/kubepay/manager:latest", "a name without a tag keeps config/default's tag, as kustomize edit set image would"},
		{defaultImage, defaultImage, "the default IMG renders exactly config/default"},
	}
	for _, tc := range cases {
		t.Run(tc.img, func(t *testing.T) {
			rendered := run(t, kubectl, "kustomize", overlay(t, tc.img))
			dep := deployment(t, rendered)
			for _, c := range append(dep.Spec.Template.Spec.InitContainers, dep.Spec.Template.Spec.Containers...) {
				if c.Image != tc.want {
					t.Errorf("%s: container %s has image %q, want %q", tc.reason, c.Name, c.Image, tc.want)
				}
			}
			// Only the image may differ from config/default: same objects, same everything else.
			if got, want := rendered, strings.ReplaceAll(base, "image: "+defaultImage, "image: "+tc.want); got != want {
				t.Errorf("%s: the overlay changed more than the image; rendered:\n%s", tc.reason, got)
			}
		})
	}
}

// checkOverlayOnServer applies the deploy overlay for a release IMG as a server-side dry run and
// checks the Deployment the API server would store carries that image: what `make deploy` does,
// short of writing.
func checkOverlayOnServer(t *testing.T, kubectl testenv.Kubectl) {
	t.Helper()
	const img = "example.com/kubepay/manager:v1.2.3"
	dir := overlay(t, img)
	stdout, stderr, err := kubectl.Run("apply", "--dry-run=server", "-k", dir, "-o", "yaml")
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server -k %s (IMG=%s): %v\n%s", dir, img, err, read(stderr))
	}
	// -o yaml prints a List of what the server would store.
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := yaml.Unmarshal([]byte(read(stdout)), &list); err != nil {
		t.Fatalf("reading the dry run's objects: %v", err)
	}
	for _, item := range list.Items {
		if item["kind"] != "Deployment" {
			continue
		}
		b, err := yaml.Marshal(item)
		if err != nil {
			t.Fatal(err)
		}
		if got := deployment(t, string(b)).Spec.Template.Spec.Containers[0].Image; got != img {
			t.Errorf("the API server would store the manager with image %q, want IMG %q", got, img)
		}
		return
	}
	t.Errorf("the dry run of the deploy overlay returned no Deployment")
}

// overlay runs hack/deploy-overlay.sh, as the Makefile does, into a fresh directory.
func overlay(t *testing.T, img string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "hack", "deploy-overlay.sh"), img, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("hack/deploy-overlay.sh %s: %v\n%s", img, err, stderr.Bytes())
	}
	return dir
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.Bytes())
	}
	return stdout.String()
}

func deployment(t *testing.T, rendered string) *appsv1.Deployment {
	t.Helper()
	var dep *appsv1.Deployment
	for _, doc := range strings.Split(rendered, "\n---\n") {
		if strings.Contains(doc, "kind: Deployment") {
			dep = &appsv1.Deployment{}
			if err := yaml.Unmarshal([]byte(doc), dep); err != nil {
				t.Fatalf("reading the rendered Deployment: %v", err)
			}
		}
	}
	if dep == nil || len(dep.Spec.Template.Spec.Containers) == 0 {
		t.Fatalf("no Deployment with containers rendered:\n%s", rendered)
	}
	return dep
}
