package manager

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	apiversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/kubepay/kubepay/internal/testenv"
)

// versionServer is an API server that answers only GET /version, on loopback.
func versionServer(t *testing.T, status int, info apiversion.Info) *rest.Config {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(info)
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

func TestCheckServerVersion(t *testing.T) {
	cases := []struct {
		name   string
		reason string
		status int
		info   apiversion.Info
		// wantErr lists substrings the error must contain; empty means the version is accepted.
		wantErr []string
	}{
		{
			name:   "exactly the minimum",
			reason: "selectable fields are GA in 1.32, so 1.32.0 is enough",
			status: http.StatusOK,
			info:   apiversion.Info{Major: "1", Minor: "32", GitVersion: "v1.32.0"},
		},
		{
			name:   "the version the tests run on",
			reason: "the control plane hack/ builds is 1.37.2",
			status: http.StatusOK,
			info:   apiversion.Info{Major: "1", Minor: "37", EmulationMajor: "1", EmulationMinor: "37", GitVersion: "v1.37.2"},
		},
		{
			name:   "source build without release ldflags",
			reason: "hack/ builds kube-apiserver with plain go build, which reports the v0.0.0-master placeholder as gitVersion but the real binary major/minor",
			status: http.StatusOK,
			info:   apiversion.Info{Major: "1", Minor: "37", EmulationMajor: "1", EmulationMinor: "37", GitVersion: "v0.0.0-master+$Format:%H$"},
		},
		{
			name:   "vendor suffixes",
			reason: "managed clusters report minor \"33+\" and a vendor build suffix; both are still 1.33",
			status: http.StatusOK,
			info:   apiversion.Info{Major: "1", Minor: "33+", GitVersion: "v1.33.1-eks-2f1b9c0"},
		},
		{
			name:   "a newer major",
			reason: "a hypothetical 2.0 is newer than 1.32, not older because its minor is 0",
			status: http.StatusOK,
			info:   apiversion.Info{Major: "2", Minor: "0", GitVersion: "v2.0.0"},
		},
		{
			name:   "only gitVersion",
			reason: "old servers may leave major/minor empty; gitVersion still decides",
			status: http.StatusOK,
			info:   apiversion.Info{GitVersion: "v1.34.2+k3s1"},
		},
		{
			name:    "one minor too old",
			reason:  "on 1.31 selectable fields are beta and can be switched off, so 1.31 is refused",
			status:  http.StatusOK,
			info:    apiversion.Info{Major: "1", Minor: "31", GitVersion: "v1.31.9"},
			wantErr: []string{"Kubernetes 1.31", `"v1.31.9"`, "needs 1.32 or newer", "selectable field status.outTradeNo"},
		},
		{
			name:    "much older, known only by gitVersion",
			reason:  "1.29 drops selectableFields from the CRD silently; gitVersion alone must be enough to refuse it",
			status:  http.StatusOK,
			info:    apiversion.Info{GitVersion: "v1.29.3-gke.1093000"},
			wantErr: []string{"Kubernetes 1.29", "v1.29.3-gke.1093000", "needs 1.32 or newer"},
		},
		{
			name:    "new binary emulating an old release",
			reason:  "a 1.33 API server run with --emulation-version=1.31 serves 1.31's features, so the emulation version decides",
			status:  http.StatusOK,
			info:    apiversion.Info{Major: "1", Minor: "33", EmulationMajor: "1", EmulationMinor: "31", GitVersion: "v1.33.0"},
			wantErr: []string{"Kubernetes 1.31", "emulating 1.31", "needs 1.32 or newer"},
		},
		{
			name:    "unparseable",
			reason:  "a version that cannot be read is refused with the raw values, not guessed at",
			status:  http.StatusOK,
			info:    apiversion.Info{Major: "one", Minor: "x", GitVersion: "latest"},
			wantErr: []string{"cannot read", `"latest"`, `major "one"`, "needs Kubernetes 1.32 or newer"},
		},
		{
			name:    "empty answer",
			reason:  "an answer with no version fields at all is refused, naming what is missing",
			status:  http.StatusOK,
			info:    apiversion.Info{},
			wantErr: []string{"cannot read", "neither major/minor nor gitVersion"},
		},
		{
			name:    "server error",
			reason:  "when /version fails the manager must not start blind; the error says which request failed",
			status:  http.StatusInternalServerError,
			info:    apiversion.Info{},
			wantErr: []string{"GET /version", "at least Kubernetes 1.32"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := versionServer(t, tc.status, tc.info)
			err := CheckServerVersionForConfig(cfg)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("%s: want the version accepted, got %v", tc.reason, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("%s: want an error, got none", tc.reason)
			}
			for _, want := range append(tc.wantErr, cfg.Host) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s: error %q does not contain %q", tc.reason, err, want)
				}
			}
		})
	}
}

// TestCheckServerVersionOnRealAPIServer runs the check against the kube-apiserver the tests use. It
// is built from source without release ldflags, so its gitVersion is the v0.0.0-master
// placeholder: the check must read the binary's major/minor and let the manager start.
func TestCheckServerVersionOnRealAPIServer(t *testing.T) {
	env := testenv.Start(t)
	if info, err := discovery.NewDiscoveryClientForConfigOrDie(env.Config).ServerVersion(); err == nil {
		t.Logf("the test control plane reports %s", describe(info))
	}
	if err := CheckServerVersionForConfig(env.Config); err != nil {
		t.Fatalf("the manager would refuse the test control plane (Kubernetes %s): %v", testenv.K8sVersion, err)
	}
}
