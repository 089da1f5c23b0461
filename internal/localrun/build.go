package localrun

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// RepoRoot finds the module root from the working directory (make runs from it).
func RepoRoot() string {
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if fileExists(filepath.Join(d, "go.mod")) && fileExists(filepath.Join(d, "PROJECT")) {
			return d
		}
	}
	return wd
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Binaries are the paths of what Build made.
type Binaries struct {
	// Assets is the control-plane directory (kube-apiserver, etcd, kubectl).
	Assets, Manager, Gateway, Kubectl string
}

// Build builds the control plane through hack/ (reused when present) and the manager and gateway
// into root/bin, printing progress to progress.
func Build(root string, progress io.Writer) (Binaries, error) {
	script := exec.Command(filepath.Join(root, "hack", "build-control-plane.sh"))
	script.Stderr = progress
	out, err := script.Output()
	if err != nil {
		return Binaries{}, fmt.Errorf("building the control plane: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	assets := lines[len(lines)-1]
	bin := filepath.Join(root, "bin")
	b := Binaries{Assets: assets, Manager: filepath.Join(bin, "manager"), Gateway: filepath.Join(bin, "sandbox-gateway"), Kubectl: filepath.Join(assets, "kubectl")}
	for _, t := range []struct{ out, pkg string }{{b.Manager, "./cmd/manager"}, {b.Gateway, "./cmd/sandbox-gateway"}} {
		// Progress is a courtesy to whoever watches; the build's own result is what counts.
		_, _ = fmt.Fprintf(progress, "  go build %s\n", t.pkg)
		cmd := exec.Command("go", "build", "-o", t.out, t.pkg)
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, progress, progress
		if err := cmd.Run(); err != nil {
			return Binaries{}, fmt.Errorf("building %s: %w", t.pkg, err)
		}
	}
	return b, nil
}
