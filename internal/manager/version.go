package manager

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/version"
	apiversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// MinKubernetesVersion is the oldest API server kubepay runs on. The PaymentOrder CRD declares
// status.outTradeNo a selectable field, and the callback server lists orders by it straight from
// the API server when its cache has not seen an order yet. CRD selectable fields are GA from 1.32;
// on 1.31 they are beta behind a feature gate a cluster may turn off, and older API servers drop
// selectableFields from the CRD silently, so notifications would fail only once orders exist.
var MinKubernetesVersion = version.MajorMinor(1, 32)

// CheckServerVersion asks the API server for its version and returns an error naming the version
// found and the one required when it is older than MinKubernetesVersion or cannot be read.
func CheckServerVersion(dc discovery.ServerVersionInterface) error {
	info, err := dc.ServerVersion()
	if err != nil {
		return fmt.Errorf("reading the API server's version (GET /version) to check it is at least Kubernetes %s: %w", MinKubernetesVersion, err)
	}
	found, err := effectiveVersion(info)
	if err != nil {
		return fmt.Errorf("the API server reports a version kubepay cannot read (%s); kubepay needs Kubernetes %s or newer: %w",
			describe(info), MinKubernetesVersion, err)
	}
	if !found.AtLeast(MinKubernetesVersion) {
		return fmt.Errorf("the API server runs Kubernetes %d.%d (%s), but kubepay needs %s or newer: the PaymentOrder CRD's selectable field status.outTradeNo, by which notifications find their order, is GA only from 1.32",
			found.Major(), found.Minor(), describe(info), MinKubernetesVersion)
	}
	return nil
}

// CheckServerVersionForConfig runs CheckServerVersion against the API server of cfg, bounded in
// time so a manager pointed at an unreachable server fails at start instead of hanging.
func CheckServerVersionForConfig(cfg *rest.Config) error {
	c := rest.CopyConfig(cfg)
	c.Timeout = 30 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(c)
	if err != nil {
		return fmt.Errorf("creating a discovery client for the API server at %s: %w", cfg.Host, err)
	}
	if err := CheckServerVersion(dc); err != nil {
		return fmt.Errorf("API server %s: %w", cfg.Host, err)
	}
	return nil
}

// effectiveVersion is the version whose features the API server serves. An API server asked to
// emulate an older release (--emulation-version) behaves as that release, so the emulation version
// comes first. Next come major/minor, which API servers from 1.31 on fill from the binary even
// when gitVersion is the "v0.0.0-master" placeholder of a build without release ldflags; some
// distributions write them as "32+". Older servers may leave them empty, so gitVersion
// ("v1.30.4-gke.1348000", "v1.29.3+k3s1") is last.
func effectiveVersion(info *apiversion.Info) (*version.Version, error) {
	if info.EmulationMajor != "" || info.EmulationMinor != "" {
		return majorMinor(info.EmulationMajor, info.EmulationMinor)
	}
	if info.Major != "" || info.Minor != "" {
		if v, err := majorMinor(info.Major, info.Minor); err == nil {
			return v, nil
		}
	}
	if info.GitVersion == "" {
		return nil, errors.New("neither major/minor nor gitVersion is set")
	}
	return version.ParseGeneric(info.GitVersion)
}

func majorMinor(major, minor string) (*version.Version, error) {
	return version.ParseGeneric(strings.TrimSuffix(major, "+") + "." + strings.TrimSuffix(minor, "+"))
}

func describe(info *apiversion.Info) string {
	s := fmt.Sprintf("gitVersion %q, major %q, minor %q", info.GitVersion, info.Major, info.Minor)
	if info.EmulationMajor != "" || info.EmulationMinor != "" {
		s += fmt.Sprintf(", emulating %s.%s", info.EmulationMajor, info.EmulationMinor)
	}
	return s
}
