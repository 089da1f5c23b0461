package testenv

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuildControlPlaneScript runs hack/build-control-plane.sh with a stand-in setup-envtest and
// the source build switched off, so each way of finding the binaries is exercised in seconds and
// no case can start the 14-minute source build.
func TestBuildControlPlaneScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed: the script cannot run here")
	}
	script := filepath.Join(RepoRoot(), "hack", "build-control-plane.sh")
	binaries := []string{"kube-apiserver", "etcd", "kubectl"}

	cases := []struct {
		name   string
		reason string
		// stub is the body of the stand-in setup-envtest; $RELEASE is a directory it may answer.
		stub string
		// release lists the binaries the stand-in's release directory holds.
		release []string
		// prefilled is "assets" or "cache" when the binaries are already there.
		prefilled string
		timeout   string
		wantOK    bool
		// wantFrom is the directory whose binaries end up in the asset directory.
		wantFrom   string
		wantLog    []string
		stubMayRun bool
	}{
		{
			name:       "prebuilt release",
			reason:     "where setup-envtest can download, its binaries are used and the script prints the asset directory last",
			stub:       `echo "fetching..." >&2; echo "some other line"; echo "$RELEASE"`,
			release:    binaries,
			wantOK:     true,
			wantFrom:   "release",
			wantLog:    []string{"prebuilt binaries from"},
			stubMayRun: true,
		},
		{
			name:       "download fails",
			reason:     "offline (this machine), setup-envtest fails and the script goes on to the source build, here switched off",
			stub:       `echo "noise" >&2; echo 'unable to fetch hash: dial tcp: lookup raw.githubusercontent.com: no such host' >&2; exit 1`,
			wantOK:     false,
			wantLog:    []string{"no prebuilt binaries: unable to fetch hash", "KUBEPAY_SOURCE_BUILD=0"},
			stubMayRun: true,
		},
		{
			name:       "release without kubectl",
			reason:     "an answer lacking one binary is not trusted; the kubectl-based tests and make deploy need it",
			stub:       `echo "$RELEASE"`,
			release:    []string{"kube-apiserver", "etcd"},
			wantOK:     false,
			wantLog:    []string{"lacks one of kube-apiserver etcd kubectl"},
			stubMayRun: true,
		},
		{
			name:       "download hangs",
			reason:     "a network that drops packets must cost the timeout, not hang make test",
			stub:       `exec sleep 30`,
			timeout:    "1",
			wantOK:     false,
			wantLog:    []string{"at most 1s", "no prebuilt binaries"},
			stubMayRun: true,
		},
		{
			name:      "assets already there",
			reason:    "every make test after the first reuses bin/k8s without asking anyone",
			stub:      `exit 1`,
			prefilled: "assets",
			wantOK:    true,
			wantFrom:  "assets",
			wantLog:   []string{"reusing"},
		},
		{
			name:      "per-user cache",
			reason:    "a fresh clone on a machine that built once copies the cached source build, still without setup-envtest",
			stub:      `exit 1`,
			prefilled: "cache",
			wantOK:    true,
			wantFrom:  "cache",
			wantLog:   []string{"copying cached binaries"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			toolsCache, assets, release := filepath.Join(dir, "cache"), filepath.Join(dir, "assets"), filepath.Join(dir, "release")
			sourceCache := filepath.Join(toolsCache, "k8s-1.37.2-etcd-3.7.0")
			fill := func(d, tag string, names []string) {
				t.Helper()
				for _, n := range names {
					writeExecutable(t, filepath.Join(d, n), "#!/bin/sh\n# "+tag+" "+n+"\n")
				}
			}
			fill(release, "release", tc.release)
			switch tc.prefilled {
			case "assets":
				fill(assets, "assets", binaries)
			case "cache":
				fill(sourceCache, "cache", binaries)
			}
			ran := filepath.Join(dir, "stub-ran")
			stub := filepath.Join(dir, "setup-envtest")
			writeExecutable(t, stub, "#!/bin/sh\ntouch '"+ran+"'\nRELEASE='"+release+"'\n"+tc.stub+"\n")

			cmd := exec.CommandContext(t.Context(), "bash", script)
			cmd.Env = append(os.Environ(),
				"K8S_VERSION=1.37.2", "ETCD_VERSION=3.7.0",
				"KUBEPAY_TOOLS_CACHE="+toolsCache, "KUBEPAY_ASSETS_DIR="+assets,
				"SETUP_ENVTEST="+stub, "KUBEPAY_SOURCE_BUILD=0")
			if tc.timeout != "" {
				cmd.Env = append(cmd.Env, "SETUP_ENVTEST_TIMEOUT="+tc.timeout)
			}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			start := time.Now()
			err := cmd.Run()
			took := time.Since(start)
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("running %s: %v", script, err)
			}
			if (err == nil) != tc.wantOK {
				t.Fatalf("%s: script succeeded=%v, want %v\nstdout:\n%s\nstderr:\n%s", tc.reason, err == nil, tc.wantOK, stdout.String(), stderr.String())
			}
			for _, want := range tc.wantLog {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("%s: stderr lacks %q:\n%s", tc.reason, want, stderr.String())
				}
			}
			if tc.timeout != "" && took > 20*time.Second {
				t.Errorf("%s: the script took %s with a %ss timeout", tc.reason, took, tc.timeout)
			}
			if _, err := os.Stat(ran); err == nil && !tc.stubMayRun {
				t.Errorf("%s: setup-envtest ran although the binaries were already there", tc.reason)
			}
			if !tc.wantOK {
				return
			}
			lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
			if last := lines[len(lines)-1]; last != assets {
				t.Errorf("%s: last stdout line is %q, want the asset directory %s (make test reads it)", tc.reason, last, assets)
			}
			for _, b := range binaries {
				got, err := os.ReadFile(filepath.Join(assets, b))
				if err != nil {
					t.Errorf("%s: %v", tc.reason, err)
					continue
				}
				if !strings.Contains(string(got), "# "+tc.wantFrom+" "+b) {
					t.Errorf("%s: %s in the asset directory is %q, want the one from %s", tc.reason, b, got, tc.wantFrom)
				}
			}
		})
	}
}

func writeExecutable(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}
